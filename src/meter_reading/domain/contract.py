"""The message the billing service receives for every confirmed reading.

Versioned: the C# consumer dispatches on ``schema``; a breaking change gets a new version.
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


@dataclass(frozen=True)
class ConfirmedReading:
    reading_id: str
    sender: str
    reading: Decimal
    unit: str
    confidence: Decimal
    s3_key: str
    photo_time: str  # ISO 8601, UTC
    confirmed_time: str  # ISO 8601, UTC

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
    )
