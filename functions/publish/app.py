"""Hand a confirmed reading to billing over RabbitMQ, or keep it safe in the outbox."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from meter_reading import billing, observability, wiring
from meter_reading.domain import contract
from meter_reading.observability import Metric, Service
from meter_reading.step_failures import step_failures

logger = Logger(service="meter-reading-publish")
tracer = observability.tracer("meter-reading-publish")
# The billing alarms and the dashboard's outbox (template.yaml) watch these.
metrics = observability.metrics(Service.BILLING)
_COUNTED = {
    billing.Outcome.PUBLISHED: Metric.PUBLISHED,
    billing.Outcome.KEPT: Metric.KEPT,
    billing.Outcome.DEAD: Metric.DEAD,
}


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
    observability.count(metrics, _COUNTED[outcome])
    # The state machine thanks the household with the text that is true for this outcome.
    return {"outcome": outcome.value, "thank_you": billing.thank_you(outcome)}


@tracer.capture_lambda_handler(capture_response=False)
@observability.published(metrics)
@logger.inject_lambda_context
@step_failures
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


@tracer.capture_lambda_handler(capture_response=False)
@observability.published(metrics)
@logger.inject_lambda_context
@step_failures
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
