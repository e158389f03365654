"""Twilio's WhatsApp webhook: a photo starts a reading, an answer resumes the one waiting.

Each inbound message is acted on at most once (keyed on its MessageSid): a retried or
replayed delivery gets the first delivery's answer and changes nothing. It never waits
for OCR: Twilio expects an answer within seconds.
"""

# ruff: noqa: E402
# (the collector is paused before the imports: see below)
from __future__ import annotations

import functools
import gc

# A cold start runs without the cyclic collector: the imports below, then the first
# invocation (see _collector_paused_on_first_call). What they make (modules, clients, their
# models) lives as long as the sandbox, so walking it finds nothing to free: with the
# collector on, the imports and the first request's model loads set off collections that
# walk more and more of it (12-20 ms of CPU here, in 136 collections).
gc.disable()

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError
from twilio.twiml.messaging_response import MessagingResponse

from meter_reading import observability, wiring
from meter_reading.adapters.tables import InboundMessage, PendingConfirmation
from meter_reading.adapters.webhook_event import BadRequest, parse_event
from meter_reading.adapters.webhook_security import is_from_twilio
from meter_reading.domain import messages
from meter_reading.domain.dialogue import (
    CommandMessage,
    IncomingMessage,
    MalformedMessage,
    OtherMessage,
    PhotoMessage,
    ReplyMessage,
    check_form,
    classify_message,
)
from meter_reading.domain.privacy import mask_phone
from meter_reading.domain.records import ReadingStatus
from meter_reading.observability import Metric, Service
from meter_reading.step_failures import TASK_TOKEN_GONE

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from meter_reading.domain.conversation import Household

F = TypeVar("F", bound=Callable[..., Any])

logger = Logger(service="meter-reading-receive")
tracer = observability.tracer("meter-reading-receive")
metrics = observability.metrics(Service.WEBHOOK)

# A retry that arrives while the first delivery is still acting waits this long for its answer.
_EARLIER_DELIVERY_WAIT_SECONDS = 6.0
_STORED_FIELDS = ("Body", "NumMedia", "MediaUrl0", "MediaContentType0")
HISTORY_LENGTH = 5


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


def _refuse(reason: str) -> dict[str, Any]:
    # The reason never quotes the request: nothing a household wrote reaches the logs.
    logger.warning("refused a malformed webhook request", extra={"reason": reason})
    return _plain(400, reason)


def _collector_paused_on_first_call(handler: F) -> F:
    """The first invocation, the rest of a cold start, runs without the cyclic collector too;
    once it is over, what it built is frozen with the imports and the collector runs again."""
    first = True

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal first
        if not first:
            return handler(*args, **kwargs)
        first = False
        gc.disable()
        try:
            return handler(*args, **kwargs)
        finally:
            gc.freeze()
            gc.enable()

    return functools.wraps(handler)(wrapper)  # type: ignore[return-value]


@_collector_paused_on_first_call
@tracer.capture_lambda_handler(capture_response=False)
@observability.published(metrics)
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway's proxy event (REST payload 1.0 or HTTP API 2.0) -> TwiML, or 400/403.

    Malformed input is answered 400 or 403 with a short reason, never 5xx: Twilio retries
    a 5xx, and a malformed request stays malformed.
    """
    try:
        request = parse_event(event)
    except BadRequest as refused:
        return _refuse(str(refused))
    form, url = request.form, request.url
    if not is_from_twilio(_auth_token(), url, form, request.signature):
        logger.warning("rejected request without a valid Twilio signature", extra={"url": url})
        observability.count(metrics, Metric.SIGNATURE_REJECTED)
        return _plain(403, "Forbidden")

    try:
        check_form(form)
        message = classify_message(form)
    except MalformedMessage as refused:
        return _refuse(str(refused))
    message_sid, sender = form["MessageSid"], form["From"]
    inbound = wiring.inbound()
    fields = {name: form.get(name, "") for name in _STORED_FIELDS}
    if isinstance(message, PhotoMessage):
        # The photo's step looks it up here: no media URL in the execution's history.
        fields |= {"photo_url": message.media_url, "photo_content_type": message.content_type}
    earlier = inbound.claim(message_sid, sender, type(message).__name__, fields)
    if earlier is not None:
        logger.info("message already handled", extra={"message_sid": message_sid})
        return _twiml(_earlier_reply(earlier))
    try:
        reply, outcome = _act(message_sid, sender, message)
    except Exception:
        inbound.release(message_sid)
        raise
    inbound.finish(message_sid, reply, outcome)
    logger.info(
        "message handled",
        extra={"message_sid": message_sid, "from": mask_phone(sender), "outcome": outcome},
    )
    return _twiml(reply)


def _auth_token() -> str:
    """Twilio's auth token; through the Parameters and Secrets extension, the DynamoDB client
    is built while the token is on its way (a cold start's first request: its model load and
    the extension's fetch from SSM no longer wait for each other)."""
    if wiring.current_settings().parameters_extension_port is None:
        # Through an SSM client of boto3's default session, which must not build two clients
        # at once: one after the other.
        return wiring.twilio_auth_token()
    fetcher = ThreadPoolExecutor(max_workers=1)
    token = fetcher.submit(wiring.twilio_auth_token)  # standard library only (HTTP to localhost)
    fetcher.shutdown(wait=False)  # the thread ends with its one fetch
    wiring.inbound()
    return token.result()


def _earlier_reply(earlier: InboundMessage) -> str | None:
    """The answer the first delivery gave (waiting a little if it is still acting)."""
    deadline = time.monotonic() + _EARLIER_DELIVERY_WAIT_SECONDS
    while earlier.state != "DONE" and time.monotonic() < deadline:
        time.sleep(0.2)
        again = wiring.inbound().get(earlier.message_sid)
        if again is None:  # the first delivery failed and let go of it
            break
        earlier = again
    return earlier.reply


def _act(message_sid: str, sender: str, message: IncomingMessage) -> tuple[str | None, str]:
    """(the TwiML answer's text, what was done)."""
    if isinstance(message, PhotoMessage):
        return _start_reading(message_sid, sender, message)
    if isinstance(message, ReplyMessage):
        return _pass_on_answer(sender, message)
    if isinstance(message, CommandMessage):
        return _command(sender, message), f"command {message.command.value}"
    assert isinstance(message, OtherMessage)
    return messages.HELP, "help"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _start_reading(message_sid: str, sender: str, photo: PhotoMessage) -> tuple[str, str]:
    config = wiring.current_settings()
    # The execution's first step makes the reading row from the stored message.
    expires = int(time.time()) + config.confirmation_timeout_seconds + 3600
    replaced = wiring.confirmations().note_photo(sender, message_sid, expires_at_epoch=expires)
    if replaced is not None:
        _supersede(replaced, message_sid)
    # Ids only: the sender's number and the media URL stay in DynamoDB, out of the
    # execution history (kept 90 days, shown in the console).
    execution_input = {
        "reading_id": message_sid,
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
        observability.count(metrics, Metric.READINGS_STARTED)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ExecutionAlreadyExists":
            raise
        logger.info("reading already started", extra={"reading_id": message_sid})
    return messages.PHOTO_RECEIVED, "reading started"


def _supersede(old: PendingConfirmation, newer_reading_id: str) -> None:
    """End the execution waiting on the older photo's question: only the newest is asked."""
    from meter_reading.domain import conversation  # see _pass_on_answer

    try:
        wiring.step_functions().send_task_success(
            taskToken=old.task_token,
            output=json.dumps(conversation.superseded_output(newer_reading_id, _now())),
        )
        logger.info(
            "older reading superseded",
            extra={"reading_id": old.reading_id, "superseded_by": newer_reading_id},
        )
    except ClientError as error:
        if error.response["Error"]["Code"] not in TASK_TOKEN_GONE:
            raise
    wiring.confirmations().clear(old.sender, old.reading_id)


def _newest_photo_being_read(household: Household) -> bool:
    """Is the execution for the household's newest photo still running?"""
    if not household.newest_photo_unanswerable() or household.latest_photo_id is None:
        return False
    arn = wiring.current_settings().require("state_machine_arn")
    execution_arn = arn.replace(":stateMachine:", ":execution:") + ":" + household.latest_photo_id
    try:
        status = wiring.step_functions().describe_execution(executionArn=execution_arn)["status"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "ExecutionDoesNotExist":
            raise
        return False
    return bool(status == "RUNNING")


def _pass_on_answer(sender: str, answer: ReplyMessage) -> tuple[str | None, str]:
    # Imported where an answer, a command or a superseding photo needs it, not at start: a
    # photo, the usual first message of a cold start, does without its dataclasses (~5 ms).
    from meter_reading.domain import conversation

    confirmations = wiring.confirmations()
    household, pending = confirmations.household(sender)
    binding = conversation.bind_answer(
        answer, household, _newest_photo_being_read(household), _now()
    )
    if isinstance(binding, conversation.Refuse):
        return binding.reply, "answer not used"
    assert pending is not None and pending.reading_id == binding.reading_id
    try:
        wiring.step_functions().send_task_success(
            taskToken=pending.task_token, output=json.dumps(binding.output)
        )
    except ClientError as error:
        if error.response["Error"]["Code"] not in TASK_TOKEN_GONE:
            raise
        confirmations.clear(sender, pending.reading_id)
        logger.info("answer for a question that has expired", extra={"from": mask_phone(sender)})
        return messages.NOTHING_PENDING, "question expired"
    confirmations.clear(sender, pending.reading_id)
    logger.info(
        "answer passed on",
        extra={"reading_id": pending.reading_id, "decision": answer.decision.value},
    )
    # The state machine answers (thanks, or asks for a new photo) once it has acted.
    return None, f"answer {answer.decision.value} passed on"


def _command(sender: str, command: CommandMessage) -> str:
    from meter_reading.domain import conversation  # see _pass_on_answer

    household, _pending = wiring.confirmations().household(sender)
    confirmed = [
        conversation.ConfirmedEntry(
            reading=str(item["reading_text"]),
            unit=str(item["unit"]),
            at=datetime.fromisoformat(str(item["created_at"])),
            typed_by_household=item.get("source") == "household",
        )
        for item in wiring.readings().recent(sender, HISTORY_LENGTH, ReadingStatus.CONFIRMED)
    ]
    return conversation.command_reply(
        command.command, household, _newest_photo_being_read(household), confirmed
    )


# Last, once the imports are done: what they made lives as long as the sandbox, so the
# collector need not walk it again (every later full collection would). The collector runs
# from here on, but for the first invocation; the cyclic garbage the imports left (a few
# hundred objects) is frozen with the rest, once.
gc.freeze()
gc.enable()
