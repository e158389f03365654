"""Twilio's WhatsApp webhook: a photo starts a reading, a YES/NO resumes the one waiting.

It never waits for OCR: Twilio expects an answer within seconds.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from twilio.twiml.messaging_response import MessagingResponse

from meter_reading import wiring
from meter_reading.adapters.webhook_security import is_from_twilio, public_url
from meter_reading.domain import messages
from meter_reading.domain.dialogue import (
    OtherMessage,
    PhotoMessage,
    ReplyMessage,
    classify_message,
)
from meter_reading.domain.privacy import mask_phone

logger = Logger(service="meter-reading-receive")

# The token is gone: answered already, timed out, or the execution ended.
_STALE_TOKEN_ERRORS = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})


def _twiml(text: str | None = None) -> dict[str, Any]:
    response = MessagingResponse()
    if text:
        response.message(text)
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "text/xml; charset=utf-8"},
        "body": str(response),
    }


def _plain(status: int, text: str) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "text/plain"}, "body": text}


@event_source(data_class=APIGatewayProxyEvent)
@logger.inject_lambda_context
def handler(event: APIGatewayProxyEvent, context: LambdaContext) -> dict[str, Any]:
    form = dict(parse_qsl(event.decoded_body or "", keep_blank_values=True))
    url = public_url(
        event.headers,
        event.request_context.path or event.path,
        event.multi_value_query_string_parameters,
    )
    if not is_from_twilio(
        wiring.twilio_auth_token(), url, form, event.headers.get("X-Twilio-Signature")
    ):
        logger.warning("rejected request without a valid Twilio signature", extra={"url": url})
        return _plain(403, "Forbidden")

    message_sid, sender = form.get("MessageSid"), form.get("From")
    if not message_sid or not sender:
        return _plain(400, "MessageSid and From are required")

    message = classify_message(form)
    if isinstance(message, PhotoMessage):
        return _start_reading(message_sid, sender, message)
    if isinstance(message, ReplyMessage):
        return _pass_on_decision(sender, message)
    assert isinstance(message, OtherMessage)
    return _twiml(messages.HELP)


def _start_reading(message_sid: str, sender: str, photo: PhotoMessage) -> dict[str, Any]:
    config = wiring.current_settings()
    # The input depends only on the webhook, so a retried delivery is the same request.
    execution_input = {
        "reading_id": message_sid,
        "sender": sender,
        "media_url": photo.media_url,
        "media_content_type": photo.content_type,
        "confirmation_timeout_seconds": config.confirmation_timeout_seconds,
    }
    try:
        wiring.step_functions().start_execution(
            stateMachineArn=config.require("state_machine_arn"),
            name=message_sid,
            input=json.dumps(execution_input),
        )
        logger.info(
            "reading started", extra={"reading_id": message_sid, "from": mask_phone(sender)}
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ExecutionAlreadyExists":
            raise
        logger.info("webhook retried, reading already started", extra={"reading_id": message_sid})
    return _twiml(messages.PHOTO_RECEIVED)


def _pass_on_decision(sender: str, reply: ReplyMessage) -> dict[str, Any]:
    confirmations = wiring.confirmations()
    pending = confirmations.get(sender)
    if pending is None:
        return _twiml(messages.NOTHING_PENDING)
    try:
        wiring.step_functions().send_task_success(
            taskToken=pending.task_token,
            output=json.dumps(
                {
                    "decision": reply.decision.value,
                    "answered_at": datetime.now(UTC).isoformat(timespec="seconds"),
                }
            ),
        )
    except ClientError as error:
        if error.response["Error"]["Code"] not in _STALE_TOKEN_ERRORS:
            raise
        confirmations.clear(sender, pending.reading_id)
        logger.info("answer for a question that has expired", extra={"from": mask_phone(sender)})
        return _twiml(messages.NOTHING_PENDING)
    confirmations.clear(sender, pending.reading_id)
    logger.info(
        "decision passed on",
        extra={"reading_id": pending.reading_id, "decision": reply.decision.value},
    )
    # The state machine answers (thanks, or asks for a new photo) once it has acted.
    return _twiml()
