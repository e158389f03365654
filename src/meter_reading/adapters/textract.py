"""Amazon Textract: asynchronous text detection of a photo in S3, synchronous of small images;
and the waits on those jobs (the task tokens their completion notification resumes)."""

from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class NotificationChannel:
    """Where Textract publishes a job's completion: an SNS topic, and the role it publishes as."""

    topic_arn: str
    role_arn: str


@dataclass
class TextDetection:
    textract: Any  # boto3 Textract client
    notification: NotificationChannel | None = None

    def start(self, bucket: str, key: str, client_token: str, job_tag: str | None = None) -> str:
        """Start text detection; Textract publishes to the notification channel when it ends.

        The same `client_token` within Textract's idempotency window returns the same job
        (and no second notification). `job_tag` comes back in the notification.
        """
        request: dict[str, Any] = {
            "DocumentLocation": {"S3Object": {"Bucket": bucket, "Name": key}},
            "ClientRequestToken": client_token,
        }
        if job_tag:
            request["JobTag"] = job_tag
        if self.notification is not None:
            request["NotificationChannel"] = {
                "SNSTopicArn": self.notification.topic_arn,
                "RoleArn": self.notification.role_arn,
            }
        response = self.textract.start_document_text_detection(**request)
        job_id: str = response["JobId"]
        return job_id

    def status(self, job_id: str) -> tuple[str, str | None]:
        """(JobStatus, StatusMessage) without fetching the blocks."""
        response = self.textract.get_document_text_detection(JobId=job_id, MaxResults=1)
        return response["JobStatus"], response.get("StatusMessage")

    def detect(self, image: bytes) -> list[dict[str, Any]]:
        """Blocks of a small image sent inline (DetectDocumentText): the reader's display crops."""
        response = self.textract.detect_document_text(Document={"Bytes": image})
        blocks: list[dict[str, Any]] = response.get("Blocks", [])
        return blocks

    def blocks(self, job_id: str) -> list[dict[str, Any]]:
        """All blocks of a finished job, following NextToken through every page of results."""
        return collect_blocks(self.textract.get_document_text_detection, job_id)


def request_token(task_token: str) -> str:
    """Textract's ClientRequestToken for one attempt of the waiting Task state.

    A retried attempt has a new task token, so it starts a new job and gets its own
    notification (a job already finished would never notify again); the same attempt
    invoked twice starts one job. Textract takes 1-64 characters of [a-zA-Z0-9-_].
    """
    return hashlib.sha256(task_token.encode()).hexdigest()[:64]


@dataclass
class TextDetectionWaits:
    """The task token each reading's text detection resumes, keyed by the reading's id.

    Textract echoes the id as the notification's JobTag. The token is stored *before* the
    job starts, so a notification can never arrive before it; `expires_at` lets DynamoDB's
    TTL remove waits nobody resumed.
    """

    table: Any  # boto3 DynamoDB Table
    keep_seconds: int = 24 * 60 * 60

    def remember(self, reading_id: str, task_token: str) -> None:
        self.table.put_item(
            Item={
                "reading_id": reading_id,
                "task_token": task_token,
                "expires_at": int(time.time()) + self.keep_seconds,
            }
        )

    def token_for(self, reading_id: str) -> str | None:
        item = self.table.get_item(Key={"reading_id": reading_id}, ConsistentRead=True).get("Item")
        return str(item["task_token"]) if item else None

    def forget(self, reading_id: str, task_token: str) -> None:
        """Remove the wait once resumed (only if no newer attempt replaced its token)."""
        replaced = self.table.meta.client.exceptions.ConditionalCheckFailedException
        with contextlib.suppress(replaced):
            self.table.delete_item(
                Key={"reading_id": reading_id},
                ConditionExpression="task_token = :token",
                ExpressionAttributeValues={":token": task_token},
            )


def collect_blocks(get_page: Any, job_id: str, page_size: int = 1000) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    next_token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"JobId": job_id, "MaxResults": page_size}
        if next_token:
            kwargs["NextToken"] = next_token
        response = get_page(**kwargs)
        # PARTIAL_SUCCESS still carries the blocks Textract could read.
        if response["JobStatus"] not in ("SUCCEEDED", "PARTIAL_SUCCESS"):
            raise RuntimeError(f"text detection {job_id} is {response['JobStatus']}")
        blocks.extend(response.get("Blocks", []))
        next_token = response.get("NextToken")
        if not next_token:
            return blocks
