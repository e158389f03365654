"""Hand a confirmed reading to billing over RabbitMQ, or keep it safe in the outbox."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from meter_reading import wiring
from meter_reading.domain import contract

logger = Logger(service="meter-reading-publish")


class ReadingNotFound(Exception):
    pass


def _billing_message(reading_id: str) -> contract.ConfirmedReading:
    record = wiring.readings().get(reading_id)
    if record is None:
        raise ReadingNotFound(f"no reading {reading_id}")
    return contract.from_record(record)


@logger.inject_lambda_context
def publish_reading(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    message = _billing_message(event["reading_id"])
    # message_id is the reading id, so billing can drop a duplicate after a retried step.
    wiring.billing_publisher().publish(message.reading_id, message.to_json())
    logger.info("reading published", extra={"reading_id": message.reading_id})
    return {"published": True}


@logger.inject_lambda_context
def keep_in_outbox(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    message = _billing_message(event["reading_id"])
    error = event.get("error") or {}
    wiring.outbox().add(message.reading_id, message.to_json(), error=json.dumps(error))
    logger.warning(
        "broker unavailable, reading kept in outbox",
        extra={"reading_id": message.reading_id, "error": error.get("Error")},
    )
    return {"outbox": True}
