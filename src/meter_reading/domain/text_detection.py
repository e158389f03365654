"""Textract's completion notification: which job finished, for which reading, and how.

Textract publishes one message to the job's SNS topic when an asynchronous job ends
(``NotificationChannel`` of ``StartDocumentTextDetection``). Its ``JobTag`` is the tag the
job was started with: here the reading's id, under which its wait is stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

#: Job statuses whose blocks the reader can use (PARTIAL_SUCCESS still carries what was read).
USABLE_STATUSES = frozenset({"SUCCEEDED", "PARTIAL_SUCCESS"})

#: The error the wait fails with when Textract failed the job (its message is the cause).
TEXT_DETECTION_FAILED = "TextDetectionFailed"


class NotATextDetectionNotice(ValueError):
    """A message on the topic that is not a completion notification of text detection."""


@dataclass(frozen=True)
class TextDetectionNotice:
    job_id: str
    status: str
    reading_id: str  # the job's JobTag

    @property
    def succeeded(self) -> bool:
        return self.status in USABLE_STATUSES

    def result(self) -> dict[str, str]:
        """What the waiting Task state receives (SendTaskSuccess output): ids only."""
        return {"job_id": self.job_id, "status": self.status}


def parse_notice(message: str) -> TextDetectionNotice:
    """The SNS message's body, as Textract publishes it."""
    try:
        body: Any = json.loads(message)
    except json.JSONDecodeError as error:
        raise NotATextDetectionNotice("the message is not JSON") from error
    if not isinstance(body, dict) or body.get("API") != "StartDocumentTextDetection":
        raise NotATextDetectionNotice("not a StartDocumentTextDetection notification")
    job_id, status, tag = body.get("JobId"), body.get("Status"), body.get("JobTag")
    if not (isinstance(job_id, str) and job_id and isinstance(status, str) and status):
        raise NotATextDetectionNotice("the notification has no JobId or Status")
    if not (isinstance(tag, str) and tag):
        raise NotATextDetectionNotice("the notification has no JobTag (the reading's id)")
    return TextDetectionNotice(job_id=job_id, status=status.upper(), reading_id=tag)


def notice_message(
    job_id: str, status: str, job_tag: str, bucket: str, key: str, timestamp_ms: int
) -> str:
    """The message Textract publishes (what the local stand-in publishes too)."""
    return json.dumps(
        {
            "JobId": job_id,
            "Status": status,
            "API": "StartDocumentTextDetection",
            "JobTag": job_tag,
            "Timestamp": timestamp_ms,
            "DocumentLocation": {"S3ObjectName": key, "S3Bucket": bucket},
        }
    )
