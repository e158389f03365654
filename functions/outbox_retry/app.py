"""Every 2 minutes: publish what the broker has not confirmed yet, until none is left.

One connection per run, asynchronous publisher confirms; the run stops in time to write
down what the broker confirmed before the Lambda's timeout.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from meter_reading import billing, observability, wiring
from meter_reading.adapters.tables import DynamoTable, Outbox
from meter_reading.observability import Metric, Service

logger = Logger(service="meter-reading-outbox")
tracer = observability.tracer("meter-reading-outbox")
# The billing alarms (DEAD, PENDING too long) and the dashboard watch these.
metrics = observability.metrics(Service.BILLING)

# Kept back from the Lambda's remaining time: marking the last batch SENT and closing.
RESERVE_SECONDS = 15.0


@tracer.capture_lambda_handler(capture_response=False)
@observability.published(metrics)
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    budget = max(1.0, context.get_remaining_time_in_millis() / 1000 - RESERVE_SECONDS)
    report = billing.drain(_outbox(), wiring.billing_publisher(), budget)
    if report.dead:
        logger.error(
            "billing messages are DEAD in the outbox",
            extra={
                "message_ids": report.dead[:50],
                "count": len(report.dead),
                "failure": report.failure,
            },
        )
        observability.count(metrics, Metric.DEAD, len(report.dead))
    elif report.failure:
        logger.warning("broker unavailable, outbox kept", extra={"failure": report.failure})
    if report.locked_out:
        logger.info("another run is draining the outbox")
    else:
        # Every run says how long the oldest row it left has waited (0: none left), so the
        # PENDING-too-long alarm sees a steady series rather than gaps.
        observability.count(metrics, Metric.PUBLISHED, report.sent)
        metrics.add_metric(
            name=Metric.OLDEST_PENDING_SECONDS.value,
            unit=MetricUnit.Seconds,
            value=_age_seconds(report.oldest_unsent_created_at),
        )
    logger.info(
        "outbox drained",
        extra={
            "sent": report.sent,
            "left": report.left,
            "broker_seconds": round(report.broker_seconds, 3),
            "table_seconds": round(report.table_seconds, 3),
        },
    )
    return {
        "sent": report.sent,
        "dead": len(report.dead),
        "left": report.left,
        "failure": report.failure,
        "locked_out": report.locked_out,
        "out_of_time": report.out_of_time,
        "broker_seconds": round(report.broker_seconds, 3),
        "table_seconds": round(report.table_seconds, 3),
    }


def _outbox() -> Outbox:
    """The outbox through a DynamoDB client of the run's own that skips botocore's check of
    each request against the API model.

    A backlog is hundreds of BatchWriteItems of the one shape Outbox builds (DynamoDB checks
    them again anyway); the check was 7% of a 10,000-row drain's CPU. A client a run (a few
    ms, the model is cached), not a module global, so it follows `wiring.reset()`.
    """
    client = boto3.client("dynamodb", config=Config(parameter_validation=False))
    return Outbox(DynamoTable(client, wiring.outbox().table.name))


def _age_seconds(created_at: str | None) -> float:
    if not created_at:
        return 0.0
    created = datetime.fromisoformat(created_at)
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return max(0.0, (datetime.now(UTC) - created).total_seconds())
