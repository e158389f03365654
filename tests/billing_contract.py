"""The billing contract (contract/), checked the way billing would check what it receives."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

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
