"""The webhook's auth token through the Parameters and Secrets Lambda Extension's HTTP API."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from meter_reading import wiring
from meter_reading.adapters.parameters_extension import ParameterUnavailable, get_parameter
from meter_reading.settings import settings

SESSION_TOKEN = "the-session-token"
NAME = "/meter-reading/twilio-auth-token"
VALUE = "the-auth-token"


class FakeExtension:
    """Answers as the extension does: the SSM GetParameter response, or SSM's error."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, list[str]], str | None]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                token = self.headers.get("X-Aws-Parameters-Secrets-Token")
                fake.requests.append((url.path, query, token))
                if token != SESSION_TOKEN:
                    status, body = 401, b"not authorized"
                elif query.get("name") != [NAME]:
                    status, body = 400, b"ParameterNotFound: parameter not found"
                else:
                    status = 200
                    body = json.dumps(
                        {"Parameter": {"Name": NAME, "Type": "SecureString", "Value": VALUE}}
                    ).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def extension(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeExtension]:
    fake = FakeExtension()
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def test_the_value_is_asked_for_decrypted_with_the_session_token(extension: FakeExtension) -> None:
    assert get_parameter(NAME, extension.port) == VALUE
    [(path, query, token)] = extension.requests
    assert path == "/systemsmanager/parameters/get"
    assert query == {"name": [NAME], "withDecryption": ["true"]}
    assert token == SESSION_TOKEN


def test_an_error_names_the_parameter_and_the_answer(extension: FakeExtension) -> None:
    with pytest.raises(ParameterUnavailable, match=r"/meter-reading/other.*400.*ParameterNotFound"):
        get_parameter("/meter-reading/other", extension.port)


def test_no_extension_listening_is_an_error_not_a_hang() -> None:
    with socket.socket() as unused:  # a port nothing listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(ParameterUnavailable, match="not listening"):
        get_parameter(NAME, port, timeout_seconds=1)


def test_wiring_reads_through_the_extension_where_the_function_has_it(
    extension: FakeExtension, monkeypatch: pytest.MonkeyPatch
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
