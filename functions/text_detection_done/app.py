"""Textract's completion notification (SNS) resumes the execution waiting on the job.

"Start text detection" is a `.waitForTaskToken` step: it stored its task token under the
reading's id and started the job with that id as JobTag. Here the job's end becomes
SendTaskSuccess ({job_id, status}) or, for a failed job, SendTaskFailure with
TextDetectionFailed and Textract's own message as the cause. Nothing personal is passed on:
the ids, the status, Textract's message.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from meter_reading import observability, wiring
from meter_reading.domain.text_detection import (
    TEXT_DETECTION_FAILED,
    NotATextDetectionNotice,
    TextDetectionNotice,
    parse_notice,
)
from meter_reading.step_failures import TASK_TOKEN_GONE

logger = Logger(service="meter-reading-text-detection-done")
tracer = observability.tracer("meter-reading-text-detection-done")


@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    resumed = 0
    for record in event.get("Records", []):
        try:
            notice = parse_notice(record["Sns"]["Message"])
        except NotATextDetectionNotice as error:
            logger.warning("ignored a message on the topic", extra={"why": str(error)})
            continue
        resumed += _resume(notice)
    return {"resumed": resumed}


def _resume(notice: TextDetectionNotice) -> int:
    waits = wiring.text_detection_waits()
    token = waits.token_for(notice.reading_id)
    log = {"job_id": notice.job_id, "reading_id": notice.reading_id, "status": notice.status}
    if token is None:
        logger.warning("no execution waits on this job", extra=log)
        return 0
    sfn = wiring.step_functions()
    try:
        if notice.succeeded:
            sfn.send_task_success(taskToken=token, output=json.dumps(notice.result()))
        else:
            _status, message = wiring.text_detection().status(notice.job_id)
            sfn.send_task_failure(
                taskToken=token,
                error=TEXT_DETECTION_FAILED,
                cause=(message or f"Textract ended the job {notice.status}")[:32768],
            )
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code not in TASK_TOKEN_GONE:
            raise  # Lambda retries the notification (asynchronous invocation)
        logger.warning("the wait was already over", extra={**log, "error": code})
        return 0
    waits.forget(notice.reading_id, token)
    logger.info("execution resumed", extra=log)
    return 1
