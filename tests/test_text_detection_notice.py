"""Textract's completion notification, as it arrives on the topic."""

from __future__ import annotations

import json

import pytest

from meter_reading.domain.text_detection import (
    NotATextDetectionNotice,
    notice_message,
    parse_notice,
)


def test_a_finished_job_names_its_job_status_and_reading() -> None:
    message = notice_message(
        "job-1", "SUCCEEDED", "MM0123", "photos-bucket", "photos/MM0123.jpg", 1
    )
    notice = parse_notice(message)
    assert (notice.job_id, notice.status, notice.reading_id) == ("job-1", "SUCCEEDED", "MM0123")
    assert notice.succeeded
    assert notice.result() == {"job_id": "job-1", "status": "SUCCEEDED"}  # ids only


@pytest.mark.parametrize("status", ["FAILED", "ERROR", "failed"])
def test_a_failed_job_is_not_a_success(status: str) -> None:
    notice = parse_notice(notice_message("job-2", status, "MM1", "b", "k", 1))
    assert not notice.succeeded and notice.status == status.upper()


@pytest.mark.parametrize(
    "message",
    [
        "not json",
        json.dumps(["a list"]),
        json.dumps(
            {"JobId": "j", "Status": "SUCCEEDED", "API": "StartDocumentAnalysis", "JobTag": "t"}
        ),
        json.dumps({"Status": "SUCCEEDED", "API": "StartDocumentTextDetection", "JobTag": "t"}),
        json.dumps({"JobId": "j", "Status": "SUCCEEDED", "API": "StartDocumentTextDetection"}),
    ],
)
def test_anything_else_on_the_topic_is_refused(message: str) -> None:
    with pytest.raises(NotATextDetectionNotice):
        parse_notice(message)
