"""The extract step: read the meter from the photo and the text detection's lines."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from meter_reading import observability, wiring
from meter_reading.reader.meter import read_meter
from meter_reading.step_failures import step_failures

logger = Logger(service="meter-reading-extract")
tracer = observability.tracer("meter-reading-extract")


@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context
@step_failures
def extract_reading(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    raw_blocks = wiring.text_detection().blocks(event["job_id"])
    photo = wiring.photo_store().get(event["key"])
    result = read_meter(photo, raw_blocks, wiring.display_reader())
    logger.info(
        "reading extracted",
        extra={
            "status": result.status,
            "confidence": result.confidence,
            "reason": result.reason,
            "meter_type": result.meter_type,
        },
    )
    return {
        "status": result.status,
        "reading": result.reading,
        "unit": result.unit,
        "meter_type": result.meter_type,
        "confidence": result.confidence,
        "reason": result.reason,
    }
