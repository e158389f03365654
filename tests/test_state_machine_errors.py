"""The ASL's Retry and Catch name errors as Lambda reports them, and never retry the permanent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from meter_reading.adapters import broker, media, tables, twilio_api

ASL = Path(__file__).resolve().parents[1] / "statemachine" / "meter_reading.asl.json"
# Raised by our handlers and matched by name in the ASL.
OURS = {
    "MediaDownloadFailed": media.MediaDownloadFailed,
    "UntrustedMediaUrl": media.UntrustedMediaUrl,
    "MediaTooLarge": media.MediaTooLarge,
    "MediaNotAnImage": media.MediaNotAnImage,
    "BrokerUnavailable": broker.BrokerUnavailable,
    "ReadingSuperseded": tables.ReadingSuperseded,
    "WhatsAppUnavailable": twilio_api.WhatsAppUnavailable,
}
# What DynamoDB and the Lambda service answer when busy, as Lambda reports them.
TRANSIENT = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "TransactionConflictException",
    "Lambda.ServiceException",
    "Lambda.TooManyRequestsException",
    "Lambda.SdkClientException",
}
REFUSED = {"UntrustedMediaUrl", "MediaTooLarge", "MediaNotAnImage"}


def _tasks() -> dict[str, dict[str, Any]]:
    states: dict[str, dict[str, Any]] = json.loads(ASL.read_text())["States"]
    return {name: state for name, state in states.items() if state["Type"] == "Task"}


def _retried(state: dict[str, Any]) -> set[str]:
    return {name for retrier in state["Retry"] for name in retrier["ErrorEquals"]}


@pytest.mark.parametrize("name", sorted(_tasks()))
def test_each_task_retries_what_lambda_reports_and_nothing_permanent(name: str) -> None:
    retried = _retried(_tasks()[name])
    assert retried >= TRANSIENT, TRANSIENT - retried
    # ClientError is never what Lambda reports for AWS's errors; the catch-alls would retry
    # the permanent ones too.
    assert not retried & {"ClientError", "States.ALL", "States.TaskFailed"}
    assert not retried & REFUSED


def test_every_error_of_ours_the_asl_names_is_raised_under_that_name() -> None:
    named = set()
    for state in _tasks().values():
        named |= _retried(state)
        named |= {error for catch in state["Catch"] for error in catch["ErrorEquals"]}
    ours = {name for name in named if name[0].isupper() and "." not in name} - TRANSIENT
    aws_codes = {
        "LimitExceededException", "InternalError", "ServiceUnavailable", "SlowDown",
        "RequestTimeout", "EndpointConnectionError", "ConnectTimeoutError",
        "ReadTimeoutError", "ConnectionClosedError", "ConnectionError",
    }  # fmt: skip
    assert ours - aws_codes == set(OURS)
    assert all(error.__name__ == name for name, error in OURS.items())


def test_a_refused_photo_is_caught_first_and_gets_its_own_reply() -> None:
    fetch = _tasks()["Fetch photo from Twilio"]
    first = fetch["Catch"][0]
    assert set(first["ErrorEquals"]) == REFUSED and first["Next"] == "Mark photo refused"
    assert all(issubclass(OURS[name], media.MediaRefused) for name in REFUSED)
    assert not issubclass(media.MediaDownloadFailed, media.MediaRefused)
    assert "MediaDownloadFailed" in _retried(fetch)
    tell = _tasks()["Tell user the photo was refused"]["Parameters"]["Payload"]
    assert tell == {
        "reading_id.$": "$.reading_id",
        "message": "photo_refused",
        "reason.$": "$.error.Error",
    }
