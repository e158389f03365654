"""Hand a confirmed reading to billing over RabbitMQ, or keep it safe in the outbox."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from meter_reading import billing, wiring
from meter_reading.domain import contract

logger = Logger(service="meter-reading-publish")
# The BillingMessagesDead alarm (template.yaml) watches this namespace and service.
metrics = Metrics(namespace="MeterReading", service="billing")


class ReadingNotFound(Exception):
    pass


def _billing_message(reading_id: str) -> contract.ConfirmedReading:
    record = wiring.readings().get(reading_id)
    if record is None:
        raise ReadingNotFound(f"no reading {reading_id}")
    return contract.from_record(record)


def _answer(reading_id: str, outcome: billing.Outcome) -> dict[str, Any]:
    if outcome is billing.Outcome.DEAD:
        logger.error("billing message is DEAD in the outbox", extra={"reading_id": reading_id})
        metrics.add_metric(name="BillingMessagesDead", unit=MetricUnit.Count, value=1)
        metrics.flush_metrics()
    # The state machine thanks the household with the text that is true for this outcome.
    return {"outcome": outcome.value, "thank_you": billing.thank_you(outcome)}


@logger.inject_lambda_context
def publish_reading(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    message = _billing_message(event["reading_id"])
    # message_id is the reading id: the outbox row under it says whether it already went.
    outcome = billing.publish_one(
        wiring.outbox(), wiring.billing_publisher(), message.reading_id, message.to_json()
    )
    logger.info(
        "reading handed to billing",
        extra={"reading_id": message.reading_id, "outcome": outcome.value},
    )
    return _answer(message.reading_id, outcome)


@logger.inject_lambda_context
def keep_in_outbox(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    message = _billing_message(event["reading_id"])
    error = event.get("error") or {}
    outcome = billing.keep(
        wiring.outbox(), message.reading_id, message.to_json(), json.dumps(error)
    )
    logger.warning(
        "broker unavailable, reading kept in outbox",
        extra={
            "reading_id": message.reading_id,
            "error": error.get("Error"),
            "outcome": outcome.value,
        },
    )
    return _answer(message.reading_id, outcome)
