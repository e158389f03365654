"""WhatsApp messages to the household: the YES/NO question and every other reply."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from meter_reading import wiring
from meter_reading.adapters.tables import PendingConfirmation
from meter_reading.domain import messages
from meter_reading.domain.privacy import mask_phone

logger = Logger(service="meter-reading-notify")


@logger.inject_lambda_context
def ask_confirmation(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Store the task token under the sender, then ask; the webhook resumes with the answer."""
    sender = event["sender"]
    wiring.confirmations().put(
        PendingConfirmation(
            sender=sender, reading_id=event["reading_id"], task_token=event["task_token"]
        ),
        expires_at_epoch=int(time.time()) + int(event["timeout_seconds"]) + 3600,
    )
    text = messages.confirmation_prompt(
        reading=event["reading"],
        unit=event["unit"],
        photo_link=wiring.photo_links().link(event["photo_key"]),
        certain=event["ocr_status"] == "ok",
    )
    sid = wiring.whatsapp().send(sender, text)
    logger.info("confirmation asked", extra={"to": mask_phone(sender), "message_sid": sid})
    return {"message_sid": sid}


@logger.inject_lambda_context
def send_message(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    text = messages.compose(
        event["message"],
        reading=event.get("reading"),
        unit=event.get("unit") or "",
        reason=event.get("reason"),
    )
    sid = wiring.whatsapp().send(event["sender"], text)
    logger.info(
        "message sent",
        extra={"kind": event["message"], "to": mask_phone(event["sender"]), "message_sid": sid},
    )
    return {"message_sid": sid}
