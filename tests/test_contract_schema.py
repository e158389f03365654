"""The billing contract as documents (contract/): valid, and true to what the code publishes.

Every message that reaches billing's queue in any test is validated against the schema by
conftest's BillingQueue; these tests check the documents themselves.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from billing_contract import ASYNCAPI, MESSAGE_SCHEMA, message_schema, schema_errors

from meter_reading.adapters.broker import APP_ID, unrouted_name
from meter_reading.domain.contract import CONTENT_TYPE, ROUTING_KEY, SCHEMA, from_record

ROOT = Path(__file__).resolve().parents[1]
# The official AsyncAPI 3.0.0 JSON Schema, from the @asyncapi/specs npm package.
ASYNCAPI_SPECS = ROOT / "node_modules" / "@asyncapi" / "specs"
ASYNCAPI_3_SCHEMA = ASYNCAPI_SPECS / "schemas" / "3.0.0-without-$id.json"

RECORD = {
    "reading_id": "MM0c1d2e3f405162738495a6b7c8d9e0f1",
    "sender": "whatsapp:+27821234567",
    "reading": Decimal("3662.0"),
    "unit": "kWh",
    "ocr_confidence": Decimal("0.97"),
    "s3_key": "photos/MM0c1d2e3f405162738495a6b7c8d9e0f1.jpg",
    "photo_time": "2026-11-26T10:00:00.123Z",
    "confirmed_at": "2026-11-26T10:01:00+00:00",
    "status": "CONFIRMED",
}


def _asyncapi() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(ASYNCAPI.read_text(encoding="utf-8"))
    return document


def _message() -> dict[str, Any]:
    message: dict[str, Any] = _asyncapi()["components"]["messages"]["confirmedReading"]
    return message


def test_the_message_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft7Validator.check_schema(message_schema())


def test_the_asyncapi_document_is_valid_asyncapi_3() -> None:
    if not ASYNCAPI_3_SCHEMA.is_file():
        pytest.fail("node_modules/@asyncapi/specs is missing: run `make install` (npm ci)")
    official = json.loads(ASYNCAPI_3_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(official)
    assert [error.message for error in validator.iter_errors(_asyncapi())] == []


def test_the_asyncapi_document_names_what_the_publisher_uses() -> None:
    document = _asyncapi()
    exchange = "meter-readings"  # the default; see the next test
    channel = document["channels"]["confirmedReadings"]
    assert channel["address"] == ROUTING_KEY
    assert channel["bindings"]["amqp"]["exchange"] == {
        "name": exchange,
        "type": "topic",
        "durable": True,
        "autoDelete": False,
        "vhost": "/",
    }
    unrouted = document["channels"]["unroutedReadings"]
    assert unrouted["address"] == unrouted_name(exchange)
    assert unrouted["bindings"]["amqp"]["queue"]["name"] == unrouted_name(exchange)
    assert unrouted["bindings"]["amqp"]["queue"]["durable"] is True

    publish = document["operations"]["publishConfirmedReading"]
    assert publish["action"] == "send"
    assert publish["bindings"]["amqp"]["deliveryMode"] == 2
    assert publish["bindings"]["amqp"]["mandatory"] is True

    message = _message()
    assert message["name"] == SCHEMA
    assert message["contentType"] == CONTENT_TYPE
    assert message["bindings"]["amqp"]["messageType"] == SCHEMA
    headers = message["headers"]["properties"]
    assert headers["content_type"]["const"] == CONTENT_TYPE
    assert headers["type"]["const"] == SCHEMA
    assert headers["app_id"]["const"] == APP_ID
    assert (ASYNCAPI.parent / message["payload"]["schema"]["$ref"]).resolve() == MESSAGE_SCHEMA


def test_the_default_exchange_is_the_one_the_contract_names() -> None:
    template = (ROOT / "template.yaml").read_text(encoding="utf-8")
    match = re.search(r"BillingExchange:\n(?:\s+\w+:.*\n)*?\s+Default: (\S+)", template)
    assert match is not None and match.group(1) == "meter-readings"
    settings = (ROOT / "src" / "meter_reading" / "settings.py").read_text(encoding="utf-8")
    assert 'os.environ.get("BILLING_EXCHANGE", "meter-readings")' in settings


def test_billings_duty_to_deduplicate_is_written_in_the_contract() -> None:
    description = _asyncapi()["info"]["description"]
    assert "Deduplicate on `message_id`" in description
    assert "At least once" in description


def test_the_documented_example_is_a_valid_message() -> None:
    [example] = _message()["examples"]
    assert schema_errors(example["payload"]) == []
    assert example["headers"]["message_id"] == example["payload"]["reading_id"]
    headers_schema = _message()["headers"]
    assert list(jsonschema.Draft7Validator(headers_schema).iter_errors(example["headers"])) == []


@pytest.mark.parametrize(
    "record",
    [
        RECORD,
        {**RECORD, "unit": "m³", "reading": Decimal("00412.37")},
        {**RECORD, "source": "household", "reading": Decimal("3670"), "ocr_confidence": Decimal(1)},
        {**RECORD, "photo_time": "2026-11-26T10:00:00+00:00"},
    ],
    ids=["electricity-by-ocr", "water", "typed-by-household", "photo-time-with-offset"],
)
def test_every_kind_of_billing_message_the_code_builds_is_valid(record: dict[str, Any]) -> None:
    assert schema_errors(json.loads(from_record(record).to_json())) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"reading": 3662.0}, "reading"),  # a float would round a billed amount
        ({"unit": "kwh"}, "unit"),
        ({"source": "guess"}, "source"),
        ({"schema": "meter-reading.confirmed/v2"}, "schema"),
        ({"sender": "+27821234567"}, "sender"),
        ({"confirmed_time": "26/11/2026 10:01"}, "confirmed_time"),
        ({"extra": "x"}, "(message)"),
    ],
)
def test_the_schema_refuses_what_billing_could_not_use(change: dict[str, Any], field: str) -> None:
    message = {**json.loads(from_record(RECORD).to_json()), **change}
    errors = schema_errors(message)
    assert errors and all(error.startswith(field) for error in errors), errors
