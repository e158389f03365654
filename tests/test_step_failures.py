"""What the state machine sees of a failed handler: the error's real name, no personal data."""

from __future__ import annotations

import traceback
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from meter_reading.step_failures import failure_name, step_failures


def _dynamodb_error(code: str) -> ClientError:
    client = boto3.client("dynamodb", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("get_item", service_error_code=code, http_status_code=400)
        try:
            client.get_item(TableName="t", Key={"k": {"S": "v"}})
        except ClientError as error:
            return error
    raise AssertionError("the stub did not fail")


@pytest.mark.parametrize(
    "code",
    ["ProvisionedThroughputExceededException", "ValidationException", "AccessDeniedException"],
)
def test_an_aws_error_is_named_by_its_code_modelled_or_not(code: str) -> None:
    error = _dynamodb_error(code)

    @step_failures
    def handler(event: dict[str, Any], context: Any) -> None:
        raise error

    with pytest.raises(Exception) as raised:
        handler({}, None)
    assert type(raised.value).__name__ == failure_name(error) == code
    assert code in str(raised.value)
    # The traceback still shows where it failed, for the logs.
    assert "raise error" in "".join(traceback.format_exception(raised.value))


def test_urls_and_numbers_are_scrubbed_and_the_name_kept() -> None:
    class MediaDownloadFailed(Exception):
        pass

    @step_failures
    def handler(event: dict[str, Any], context: Any) -> None:
        raise MediaDownloadFailed("could not fetch https://api.twilio.com/x for +27821234567")

    with pytest.raises(Exception) as raised:
        handler({}, None)
    assert type(raised.value).__name__ == "MediaDownloadFailed"
    assert str(raised.value) == "could not fetch <url> for +27*****4567"


def test_a_well_named_plain_failure_passes_through_unchanged() -> None:
    class ReadingSuperseded(Exception):
        pass

    original = ReadingSuperseded("reading MM1 was superseded by a newer photo")

    @step_failures
    def handler(event: dict[str, Any], context: Any) -> None:
        raise original

    with pytest.raises(ReadingSuperseded) as raised:
        handler({}, None)
    assert raised.value is original
