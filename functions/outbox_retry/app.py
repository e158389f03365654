"""Every 2 minutes: publish what the broker has not confirmed yet, oldest worry first."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from meter_reading import wiring
from meter_reading.adapters.broker import BrokerUnavailable, PublishNotConfirmed

logger = Logger(service="meter-reading-outbox")

BATCH_SIZE = 100
MAX_REFUSALS = 5


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    outbox = wiring.outbox()
    entries = outbox.pending(limit=BATCH_SIZE)
    if not entries:
        return {"pending": 0, "sent": 0, "failed": 0}
    publisher = wiring.billing_publisher()
    sent = failed = 0
    for entry in entries:
        try:
            publisher.publish(entry.message_id, entry.body)
        except BrokerUnavailable as error:
            # The broker is down for all of them: leave the rest for the next run.
            outbox.record_failure(entry.message_id, str(error))
            logger.warning("broker still unavailable", extra={"message_id": entry.message_id})
            failed += 1
            break
        except PublishNotConfirmed as error:
            status = outbox.record_refusal(entry.message_id, str(error), MAX_REFUSALS)
            logger.error(
                "broker refused message",
                extra={"message_id": entry.message_id, "outbox_status": status.value},
            )
            failed += 1
            continue
        outbox.mark_sent(entry.message_id)
        sent += 1
    logger.info("outbox drained", extra={"sent": sent, "failed": failed})
    return {"pending": len(entries), "sent": sent, "failed": failed}
