"""Amazon Textract: asynchronous text detection of a photo in S3, synchronous of small images."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class TextDetection:
    textract: Any  # boto3 Textract client

    def start(self, bucket: str, key: str, client_token: str) -> str:
        response = self.textract.start_document_text_detection(
            DocumentLocation={"S3Object": {"Bucket": bucket, "Name": key}},
            # The same token within Textract's idempotency window returns the same job,
            # so a retried Lambda does not pay for a second OCR run.
            ClientRequestToken=client_token,
        )
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
