"""The reading record in DynamoDB: checked against the household's history, saved raw, then
confirmed (OCR's value or the household's), rejected, expired, superseded or failed."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from meter_reading import observability, wiring
from meter_reading.adapters.tables import ReadingNotFound, UnknownMessage
from meter_reading.domain import plausibility
from meter_reading.domain.dialogue import Decision
from meter_reading.domain.records import ReadingSource, ReadingStatus
from meter_reading.observability import Metric, Service
from meter_reading.step_failures import step_failures

logger = Logger(service="meter-reading-records")
tracer = observability.tracer("meter-reading-records")
metrics = observability.metrics(Service.READINGS)
# Textract's failures reach the state machine's failure path, which is recorded here.
ocr_metrics = observability.metrics(Service.OCR)

_ENDED = {
    ReadingStatus.REJECTED: Metric.REJECTED,
    ReadingStatus.SUPERSEDED: Metric.SUPERSEDED,
    ReadingStatus.EXPIRED: Metric.EXPIRED,
}
_TEXT_DETECTION_ERRORS = frozenset({"TextDetectionFailed", "TextDetectionTimeout"})

HISTORY_READINGS = 10  # the household's confirmed readings its usual consumption comes from


def _error_detail(error: dict[str, Any] | None) -> str | None:
    """The "Error: message" of an error the state machine caught, as status_detail keeps it."""
    if not error:
        return None
    cause = str(error.get("Cause", ""))
    # A Lambda's error comes as its JSON error payload: the message is what ops read.
    with contextlib.suppress(ValueError, TypeError, KeyError):
        cause = str(json.loads(cause)["errorMessage"])
    return f"{error.get('Error', 'Unknown')}: {cause}"[:1000]


@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context
@step_failures
def check_history(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The meter's unit, and whether the reading fits the household's confirmed history."""
    extraction = event["extraction"]
    meter_type = extraction.get("meter_type") or "unknown"
    unit = plausibility.unit_for(meter_type, extraction.get("unit"))
    sender = wiring.inbound().sender_of(event["reading_id"])
    history = [
        plausibility.PastReading(
            Decimal(str(item["reading"])), datetime.fromisoformat(str(item["created_at"]))
        )
        for item in wiring.readings().recent(sender, HISTORY_READINGS, ReadingStatus.CONFIRMED)
    ]
    assessment = plausibility.assess(
        Decimal(str(extraction["reading"])), unit, history, datetime.now(UTC)
    )
    logger.info(
        "reading checked against history",
        extra={"plausible": assessment.plausible, "history": len(history)},
    )
    return {
        "plausible": assessment.plausible,
        "problem": assessment.problem,
        "unit": unit,
        "meter_type": meter_type,
    }


@tracer.capture_lambda_handler(capture_response=False)
@observability.published(metrics)
@logger.inject_lambda_context
@step_failures
def save_reading(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The reading as OCR left it: awaiting the household's answer, or UNREADABLE."""
    extraction = event["extraction"]
    if extraction["status"] == "unreadable":
        return _save_unreadable(event)
    check = event["check"]
    wiring.readings().save_raw(
        reading_id=event["reading_id"],
        sender=wiring.inbound().sender_of(event["reading_id"]),
        reading_text=extraction["reading"],
        unit=check["unit"],
        meter_type=check["meter_type"],
        # Via str so the stored Decimal shows what OCR said, not a binary float's tail.
        confidence=Decimal(str(extraction["confidence"])),
        ocr_status=extraction["status"],
        problem=check.get("problem"),
        s3_key=event["photo_key"],
        photo_time=event["photo_time"],
    )
    metrics.add_metric(
        name=Metric.OCR_CONFIDENCE.value,
        unit=MetricUnit.NoUnit,
        value=float(extraction["confidence"]),
    )
    return {"reading_id": event["reading_id"]}


def _save_unreadable(event: dict[str, Any]) -> dict[str, Any]:
    extraction = event["extraction"]
    reason = extraction.get("reason")
    wiring.readings().save_unreadable(
        reading_id=event["reading_id"],
        sender=wiring.inbound().sender_of(event["reading_id"]),
        reason=reason,
        confidence=Decimal(str(extraction.get("confidence") or 0)),
        s3_key=event["photo_key"],
        photo_time=event["photo_time"],
        meter_type=extraction.get("meter_type"),
    )
    observability.count_unreadable(metrics, reason)
    logger.info("unreadable photo saved", extra={"reason": reason})
    return _outcome(event["reading_id"], ReadingStatus.UNREADABLE, {}) | {"reason": reason}


def _outcome(reading_id: str, status: ReadingStatus, record: dict[str, Any]) -> dict[str, Any]:
    """What the execution's end state reports: the reading, its status, value and who gave it."""
    return {
        "reading_id": reading_id,
        "status": status.value,
        "reading": record.get("reading_text"),
        "unit": record.get("unit"),
        "source": record.get("source"),
    }


@tracer.capture_lambda_handler(capture_response=False)
@observability.published(metrics)
@logger.inject_lambda_context
@step_failures
def set_status(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The new status; for CONFIRMED, the value billing gets and who gave it."""
    status = ReadingStatus(event["status"])
    readings = wiring.readings()
    if status is ReadingStatus.CONFIRMED:
        answer = event.get("confirmation") or {}
        typed = answer.get("reading") if answer.get("decision") == Decision.CORRECTED else None
        record = readings.confirm(event["reading_id"], household_reading=typed)
    else:
        record = readings.set_status(
            event["reading_id"], status, detail=_error_detail(event.get("error"))
        )
    # The question is answered or dead either way: a late YES must not find it.
    wiring.confirmations().clear(str(record["sender"]), event["reading_id"])
    logger.info("reading status set", extra={"status": status.value})
    if status is ReadingStatus.CONFIRMED:
        by_household = record.get("source") == ReadingSource.HOUSEHOLD.value
        observability.count(
            metrics, Metric.CONFIRMED_BY_HOUSEHOLD if by_household else Metric.CONFIRMED_BY_OCR
        )
    elif status in _ENDED:
        observability.count(metrics, _ENDED[status])
    return _outcome(event["reading_id"], status, record)


def _fail(reading_id: str, detail: str) -> dict[str, Any] | None:
    """The reading marked FAILED; made first from its photo message where the execution's
    first step failed before making it. None if there is no such message."""
    readings = wiring.readings()
    try:
        return readings.fail(reading_id, detail)
    except ReadingNotFound:
        pass
    try:
        photo = wiring.inbound().photo(reading_id)
    except UnknownMessage:
        return None
    readings.receive(reading_id, photo)
    return readings.fail(reading_id, detail)


@tracer.capture_lambda_handler(capture_response=False)
@observability.published(metrics)
@observability.published(ocr_metrics)
@logger.inject_lambda_context
@step_failures
def record_failure(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    error = event.get("error") or {}
    detail = _error_detail(error) or "Unknown: "
    record = _fail(event["reading_id"], detail)
    if record is None:
        # Only an execution started by hand has no photo message: there is nothing to mark.
        logger.error("no reading to mark failed", extra={"detail": detail})
        return {"reading_id": event["reading_id"], "status": None}
    wiring.confirmations().clear(str(record["sender"]), event["reading_id"])
    logger.warning("reading failed", extra={"detail": detail})
    observability.count(metrics, Metric.FAILED)
    if error.get("Error") in _TEXT_DETECTION_ERRORS:
        observability.count(ocr_metrics, Metric.TEXT_DETECTION_FAILED)
    return {"reading_id": event["reading_id"], "status": ReadingStatus.FAILED.value}
