"""The reading record in DynamoDB: saved raw, then confirmed, rejected, expired or failed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from meter_reading import wiring
from meter_reading.domain.records import ReadingStatus

logger = Logger(service="meter-reading-records")


@logger.inject_lambda_context
def save_reading(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    extraction = event["extraction"]
    wiring.readings().save_raw(
        reading_id=event["reading_id"],
        sender=event["sender"],
        reading_text=extraction["reading"],
        unit=extraction["unit"],
        # Via str so the stored Decimal shows what OCR said, not a binary float's tail.
        confidence=Decimal(str(extraction["confidence"])),
        ocr_status=extraction["status"],
        s3_key=event["photo_key"],
        photo_time=event["photo_time"],
    )
    return {"reading_id": event["reading_id"]}


@logger.inject_lambda_context
def set_status(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    status = ReadingStatus(event["status"])
    wiring.readings().set_status(event["reading_id"], status)
    # The question is answered or dead either way: a late YES must not find it.
    wiring.confirmations().clear(event["sender"], event["reading_id"])
    logger.info("reading status set", extra={"status": status.value})
    return {"reading_id": event["reading_id"], "status": status.value}


@logger.inject_lambda_context
def record_failure(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    error = event.get("error") or {}
    detail = f"{error.get('Error', 'Unknown')}: {error.get('Cause', '')}"[:1000]
    wiring.readings().set_status(event["reading_id"], ReadingStatus.FAILED, detail=detail)
    wiring.confirmations().clear(event["sender"], event["reading_id"])
    logger.warning("reading failed", extra={"detail": detail})
    return {"reading_id": event["reading_id"], "status": ReadingStatus.FAILED.value}
