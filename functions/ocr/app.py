"""OCR steps: fetch the photo from Twilio, start Textract (its completion: functions/
text_detection_done; reading the meter: functions/extract)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from meter_reading import observability, wiring
from meter_reading.adapters.storage import photo_key
from meter_reading.adapters.textract import request_token
from meter_reading.step_failures import step_failures

logger = Logger(service="meter-reading-ocr")
tracer = observability.tracer("meter-reading-ocr")


@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context
@step_failures
def fetch_photo(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Looked up by the reading's id: the URL and the sender never enter the execution's history.
    photo = wiring.inbound().photo(event["reading_id"])
    # First, the reading with its household: every later step, the failure path included,
    # updates it. The webhook leaves it to this step, one request fewer while Twilio waits.
    wiring.readings().receive(event["reading_id"], photo)
    body, content_type = wiring.media_fetcher().fetch(photo.url)  # the type the bytes are
    store = wiring.photo_store()
    key = photo_key(event["reading_id"], content_type)
    store.put(key, body, content_type)
    logger.info("photo stored", extra={"key": key, "bytes": len(body)})
    return {"bucket": store.bucket, "key": key, "content_type": content_type}


@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context
@step_failures
def start_text_detection(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The first half of a `.waitForTaskToken` step: remember the task token under the
    reading's id, then start Textract, which announces the job's end on the SNS topic
    (functions/text_detection_done resumes the execution with it)."""
    reading_id, task_token = event["reading_id"], event["task_token"]
    wiring.text_detection_waits().remember(reading_id, task_token)
    job_id = wiring.text_detection().start(
        event["bucket"], event["key"], request_token(task_token), job_tag=reading_id
    )
    logger.info("text detection started", extra={"job_id": job_id})
    return {"job_id": job_id}
