"""The billing contract (contract/), checked the way billing would check what it receives."""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from meter_reading.domain.contract import ConfirmedReading

CONTRACT = Path(__file__).resolve().parents[1] / "contract"
MESSAGE_SCHEMA = CONTRACT / "meter-reading.confirmed.v1.schema.json"
ASYNCAPI = CONTRACT / "asyncapi.yaml"


@cache
def message_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(MESSAGE_SCHEMA.read_text(encoding="utf-8"))
    return schema


@cache
def _validator() -> Any:
    schema = message_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())


def schema_errors(message: Any) -> list[str]:
    return sorted(
        f"{'/'.join(map(str, error.absolute_path)) or '(message)'}: {error.message}"
        for error in _validator().iter_errors(message)
    )


def assert_billing_message(properties: Any, body: bytes) -> dict[str, Any]:
    """One message as billing received it: body per the schema, properties per AsyncAPI."""
    message: dict[str, Any] = json.loads(body)
    assert schema_errors(message) == [], body
    assert properties.message_id == message["reading_id"]
    assert properties.content_type == "application/json"
    assert properties.delivery_mode == 2
    assert properties.type == message["schema"]
    assert properties.app_id == "meter-reading"
    return message


def billing_message(reading_id: str) -> str:
    """A valid billing message for `reading_id`, as the publish step builds it."""
    return ConfirmedReading(
        reading_id=reading_id,
        sender="whatsapp:+27821234567",
        reading=Decimal("3662.0"),
        unit="kWh",
        confidence=Decimal("0.97"),
        s3_key=f"photos/{reading_id}.jpg",
        photo_time="2026-11-26T10:00:00Z",
        confirmed_time="2026-11-26T10:01:00+00:00",
    ).to_json()
