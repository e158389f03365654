"""WhatsApp messages to the household: the question about its reading and every other reply.

Executions carry the reading id (the photo's MessageSid); the household's number is
looked up from the inbound message, so it never enters the execution history.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from meter_reading import observability, wiring
from meter_reading.adapters.tables import PendingConfirmation
from meter_reading.domain import messages
from meter_reading.domain.privacy import mask_phone
from meter_reading.step_failures import step_failures

logger = Logger(service="meter-reading-notify")
tracer = observability.tracer("meter-reading-notify")

# About a photo the household has since replaced with a newer one, these stay unsaid.
_ABOUT_THE_PHOTO = frozenset({"photo_unreadable", "photo_refused", "processing_failed"})


@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context
@step_failures
def ask_confirmation(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Open the question (ReadingSuperseded if a newer photo came), then ask it."""
    sender = wiring.inbound().sender_of(event["reading_id"])
    wiring.confirmations().ask(
        PendingConfirmation(
            sender=sender,
            reading_id=event["reading_id"],
            task_token=event["task_token"],
            reading_text=event["reading"],
            unit=event["unit"],
        ),
        expires_at_epoch=int(time.time()) + int(event["timeout_seconds"]) + 3600,
    )
    text = messages.confirmation_prompt(
        reading=event["reading"],
        unit=event["unit"],
        photo_link=wiring.photo_links().link(event["photo_key"]),
        certain=event["ocr_status"] == "ok",
        problem=event.get("problem"),
    )
    sid = wiring.whatsapp().send(sender, text)
    logger.info("confirmation asked", extra={"to": mask_phone(sender), "message_sid": sid})
    return {"message_sid": sid}


@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context
@step_failures
def send_message(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    sender = wiring.inbound().sender_of(event["reading_id"])
    if event["message"] in _ABOUT_THE_PHOTO:
        household, _ = wiring.confirmations().household(sender)
        if household.latest_photo_id not in (None, event["reading_id"]):
            logger.info(
                "not sent: a newer photo replaced this one", extra={"kind": event["message"]}
            )
            return {"message_sid": None, "skipped": "superseded"}
    text = messages.compose(
        event["message"],
        reading=event.get("reading"),
        unit=event.get("unit") or "",
        reason=event.get("reason"),
    )
    sid = wiring.whatsapp().send(sender, text)
    logger.info(
        "message sent",
        extra={"kind": event["message"], "to": mask_phone(sender), "message_sid": sid},
    )
    return {"message_sid": sid}
