from __future__ import annotations

import json
from decimal import Decimal

import pytest

from meter_reading.domain.contract import SCHEMA, ConfirmedReading, from_record

RECORD = {
    "reading_id": "MM123",
    "sender": "whatsapp:+27821234567",
    "reading": Decimal("3662.0"),
    "reading_text": "03662.0",
    "unit": "kWh",
    "ocr_confidence": Decimal("0.97"),
    "s3_key": "photos/MM123.jpg",
    "photo_time": "2026-11-26T10:00:00Z",
    "confirmed_at": "2026-11-26T10:01:00+00:00",
    "status": "CONFIRMED",
}


def test_the_billing_message_is_versioned_json_with_decimals_as_strings() -> None:
    body = json.loads(from_record(RECORD).to_json())
    assert body == {
        "schema": SCHEMA,
        "reading_id": "MM123",
        "sender": "whatsapp:+27821234567",
        "reading": "3662.0",
        "unit": "kWh",
        "confidence": "0.97",
        "s3_key": "photos/MM123.jpg",
        "photo_time": "2026-11-26T10:00:00Z",
        "confirmed_time": "2026-11-26T10:01:00+00:00",
        "source": "ocr",
    }


def test_billing_gets_the_households_typed_value_with_its_source_and_unit() -> None:
    record = {
        **RECORD,
        "reading": Decimal("2050.9"),
        "reading_text": "2050.9",
        "ocr_reading": Decimal("20509"),
        "source": "household",
        "unit": "m³",
    }
    body = json.loads(from_record(record).to_json())
    assert (body["reading"], body["source"], body["unit"]) == ("2050.9", "household", "m³")


def test_a_v1_message_without_source_came_from_ocr() -> None:
    body = json.loads(from_record(RECORD).to_json())
    del body["source"]
    assert ConfirmedReading.from_json(json.dumps(body)).source == "ocr"


def test_an_unknown_source_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown reading source"):
        from_record({**RECORD, "source": "guess"})


def test_the_message_round_trips() -> None:
    message = from_record(RECORD)
    assert ConfirmedReading.from_json(message.to_json()) == message


def test_an_unconfirmed_reading_is_never_turned_into_a_billing_message() -> None:
    with pytest.raises(ValueError, match="not confirmed"):
        from_record({**RECORD, "status": "AWAITING_CONFIRMATION"})


def test_another_schema_is_refused() -> None:
    body = json.loads(from_record(RECORD).to_json())
    body["schema"] = "meter-reading.confirmed/v9"
    with pytest.raises(ValueError, match="unsupported schema"):
        ConfirmedReading.from_json(json.dumps(body))
