"""The DynamoDB tables as template.yaml declares them, for moto: one definition for the local
runtime, the benchmarks and the tests (``client.create_table(**readings_table("readings"))``)."""

from __future__ import annotations

from typing import Any

from meter_reading.adapters.tables import OUTBOX_PENDING_INDEX, READINGS_BY_SENDER_INDEX


def keyed_table(name: str, key: str) -> dict[str, Any]:
    """A table with a string hash key and nothing else (confirmations, inbound messages)."""
    return {
        "TableName": name,
        "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": key, "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }


def readings_table(name: str) -> dict[str, Any]:
    """Readings by id, and by household and time (the sender index)."""
    return {
        "TableName": name,
        "KeySchema": [{"AttributeName": "reading_id", "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": attribute, "AttributeType": "S"}
            for attribute in ("reading_id", "sender", "created_at")
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": READINGS_BY_SENDER_INDEX,
                "KeySchema": [
                    {"AttributeName": "sender", "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


def outbox_table(name: str) -> dict[str, Any]:
    """Billing messages by id, and the ones still to send (the sparse index the drain scans)."""
    return {
        "TableName": name,
        "KeySchema": [{"AttributeName": "message_id", "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": "message_id", "AttributeType": "S"},
            {"AttributeName": "pending", "AttributeType": "S"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": OUTBOX_PENDING_INDEX,
                "KeySchema": [{"AttributeName": "pending", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
