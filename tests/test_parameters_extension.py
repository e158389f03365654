"""The webhook's auth token through the Parameters and Secrets Lambda Extension's HTTP API."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from parameters_extension_fake import SESSION_TOKEN, FakeParametersExtension

from meter_reading import wiring
from meter_reading.adapters.parameters_extension import ParameterUnavailable, get_parameter
from meter_reading.settings import settings

NAME = "/meter-reading/twilio-auth-token"
VALUE = "the-auth-token"


@pytest.fixture
def extension(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeParametersExtension]:
    fake = FakeParametersExtension({NAME: VALUE})
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    yield fake
    fake.stop()


def test_the_value_is_asked_for_decrypted_with_the_session_token(
    extension: FakeParametersExtension,
) -> None:
    assert get_parameter(NAME, extension.port) == VALUE
    [(path, query, token)] = extension.requests
    assert path == "/systemsmanager/parameters/get"
    assert query == {"name": [NAME], "withDecryption": ["true"]}
    assert token == SESSION_TOKEN


def test_an_error_names_the_parameter_and_the_answer(extension: FakeParametersExtension) -> None:
    with pytest.raises(ParameterUnavailable, match=r"/meter-reading/other.*400.*ParameterNotFound"):
        get_parameter("/meter-reading/other", extension.port)


def test_no_extension_listening_is_an_error_not_a_hang() -> None:
    with socket.socket() as unused:  # a port nothing listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(ParameterUnavailable, match="not listening"):
        get_parameter(NAME, port, timeout_seconds=1)


def test_wiring_reads_through_the_extension_where_the_function_has_it(
    extension: FakeParametersExtension, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(extension.port))
    monkeypatch.setenv("TWILIO_AUTH_TOKEN_PARAMETER", NAME)
    settings.cache_clear()
    try:
        assert wiring.twilio_auth_token() == VALUE
        # Not cached here: the extension's cache decides when a rotated token is read again.
        assert wiring.twilio_auth_token() == VALUE
        assert len(extension.requests) == 2
    finally:
        settings.cache_clear()
