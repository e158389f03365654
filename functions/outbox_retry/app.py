"""Every 2 minutes: publish what the broker has not confirmed yet, until none is left.

One connection per run, asynchronous publisher confirms; the run stops in time to write
down what the broker confirmed before the Lambda's timeout.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from meter_reading import billing, wiring

logger = Logger(service="meter-reading-outbox")
# The BillingMessagesDead alarm (template.yaml) watches this namespace and service.
metrics = Metrics(namespace="MeterReading", service="billing")

# Kept back from the Lambda's remaining time: marking the last batch SENT and closing.
RESERVE_SECONDS = 15.0


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    budget = max(1.0, context.get_remaining_time_in_millis() / 1000 - RESERVE_SECONDS)
    report = billing.drain(wiring.outbox(), wiring.billing_publisher(), budget)
    if report.dead:
        logger.error(
            "billing messages are DEAD in the outbox",
            extra={
                "message_ids": report.dead[:50],
                "count": len(report.dead),
                "failure": report.failure,
            },
        )
        metrics.add_metric(
            name="BillingMessagesDead", unit=MetricUnit.Count, value=len(report.dead)
        )
        metrics.flush_metrics()
    elif report.failure:
        logger.warning("broker unavailable, outbox kept", extra={"failure": report.failure})
    if report.locked_out:
        logger.info("another run is draining the outbox")
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
