"""The webhook with its auth token from the Parameters and Secrets extension, as in Lambda.

There the token is fetched on a thread of its own while the DynamoDB client is built: the
signature is still checked against it before anything is acted on, and a token that cannot
be had is still an error (API Gateway's 502), never a request let through.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from parameters_extension_fake import SESSION_TOKEN, FakeParametersExtension

from meter_reading import wiring
from meter_reading.local.runtime import ACCOUNT_SID, TWILIO_TOKEN_PARAMETER, LocalPipeline

HOUSEHOLD = "whatsapp:+27820000017"


@pytest.fixture
def pipeline() -> Iterator[LocalPipeline]:
    with LocalPipeline(run_executions=False, log_level="ERROR") as running:
        yield running


def _through(monkeypatch: pytest.MonkeyPatch, extension: FakeParametersExtension) -> None:
    monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(extension.port))
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    wiring.reset()  # a fresh sandbox: settings read again, no DynamoDB client built yet


def _photo() -> dict[str, str]:
    sid = "MM" + uuid.uuid4().hex
    return {
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": HOUSEHOLD,
        "To": "whatsapp:+14155238886",
        "Body": "",
        "NumMedia": "1",
        "MediaUrl0": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Media/ME1",
        "MediaContentType0": "image/jpeg",
    }


def test_a_signed_photo_starts_its_reading_with_the_token_from_the_extension(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    extension = FakeParametersExtension({TWILIO_TOKEN_PARAMETER: pipeline.auth_token})
    _through(monkeypatch, extension)
    try:
        photo = _photo()
        answer = pipeline.deliver_webhook(photo)
        assert answer.status_code == 200, answer
        assert "we got your meter photo" in answer.body
        assert photo["MessageSid"] in {e["name"] for e in pipeline.executions()}
        forged = pipeline.deliver_webhook(_photo(), signature="Zm9yZ2Vk")
        assert forged.status_code == 403
        # Every request asked the extension (its cache, not ours, decides about rotation).
        assert extension.names == [TWILIO_TOKEN_PARAMETER] * 2
    finally:
        extension.stop()


def test_a_request_signed_with_another_token_is_refused(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    extension = FakeParametersExtension(
        {TWILIO_TOKEN_PARAMETER: "a-token-that-is-not-the-account-s"}
    )
    _through(monkeypatch, extension)
    try:
        photo = _photo()
        assert pipeline.deliver_webhook(photo).status_code == 403
        assert photo["MessageSid"] not in {e["name"] for e in pipeline.executions()}
    finally:
        extension.stop()


def test_a_token_the_extension_cannot_give_is_an_error_and_nothing_is_acted_on(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    extension = FakeParametersExtension({})  # SSM has no such parameter
    _through(monkeypatch, extension)
    try:
        photo = _photo()
        assert pipeline.deliver_webhook(photo).status_code == 502
        assert photo["MessageSid"] not in {e["name"] for e in pipeline.executions()}
        assert wiring.inbound().get(photo["MessageSid"]) is None
        assert pipeline.reading(photo["MessageSid"]) is None
    finally:
        extension.stop()
