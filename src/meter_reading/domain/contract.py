"""The message the billing service receives for every confirmed reading.

Versioned: the C# consumer dispatches on ``schema``; a breaking change gets a new version.
``source`` (who gave the value: ``ocr`` or ``household``) was added within v1: a new field
is not a breaking change, and a v1 message without it comes from OCR.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

SCHEMA = "meter-reading.confirmed/v1"
ROUTING_KEY = "meter.reading.confirmed"
CONTENT_TYPE = "application/json"
SOURCES = frozenset({"ocr", "household"})


@dataclass(frozen=True)
class ConfirmedReading:
    reading_id: str
    sender: str
    reading: Decimal  # the value to bill: the household's when it typed one
    unit: str  # kWh for electricity, m³ for water and gas
    confidence: Decimal  # OCR's confidence in what it read
    s3_key: str
    photo_time: str  # ISO 8601, UTC
    confirmed_time: str  # ISO 8601, UTC
    source: str = "ocr"  # "ocr" (confirmed by YES) or "household" (typed by the household)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown reading source {self.source!r}")

    def to_json(self) -> str:
        body = {"schema": SCHEMA, **asdict(self)}
        # Decimals travel as strings so no float rounding touches a billed amount.
        body["reading"] = str(self.reading)
        body["confidence"] = str(self.confidence)
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ConfirmedReading:
        body = json.loads(text)
        if body.get("schema") != SCHEMA:
            raise ValueError(f"unsupported schema {body.get('schema')!r}")
        return cls(
            reading_id=body["reading_id"],
            sender=body["sender"],
            reading=Decimal(body["reading"]),
            unit=body["unit"],
            confidence=Decimal(body["confidence"]),
            s3_key=body["s3_key"],
            photo_time=body["photo_time"],
            confirmed_time=body["confirmed_time"],
            source=body.get("source", "ocr"),
        )


def from_record(record: Mapping[str, Any]) -> ConfirmedReading:
    """The billing message for a confirmed reading record (as stored in DynamoDB)."""
    if record.get("status") != "CONFIRMED":
        raise ValueError(f"reading {record.get('reading_id')} is not confirmed")
    return ConfirmedReading(
        reading_id=str(record["reading_id"]),
        sender=str(record["sender"]),
        reading=Decimal(str(record["reading"])),
        unit=str(record["unit"]),
        confidence=Decimal(str(record["ocr_confidence"])),
        s3_key=str(record["s3_key"]),
        photo_time=str(record["photo_time"]),
        confirmed_time=str(record["confirmed_at"]),
        source=str(record.get("source", "ocr")),
    )
