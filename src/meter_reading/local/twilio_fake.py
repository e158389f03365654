"""A local stand-in for Twilio's REST API, over real HTTP.

It serves message media (with basic auth, like Twilio) and accepts outbound
messages, recording them, so the twilio client and our media download are
exercised exactly as against api.twilio.com.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass(frozen=True)
class SentMessage:
    sid: str
    to: str
    from_: str
    body: str
    sent_at: datetime


@dataclass
class _Media:
    body: bytes
    content_type: str


@dataclass
class _Fault:
    """Twilio answering an error instead: `times` more requests (None: every one)."""

    status: int
    code: int
    message: str
    times: int | None
    to: str | None  # only messages to this address (sending); None: any


# Twilio's error bodies for what tests make it answer; the 400's text quotes the number,
# as Twilio's does.
_TWILIO_ERRORS = {
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
    400: (21211, "The 'To' number {to} is not a valid phone number."),
}


@dataclass
class FakeTwilio:
    account_sid: str
    auth_token: str
    sent: list[SentMessage] = field(default_factory=list)
    _media: dict[str, _Media] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None
    _changed: threading.Condition = field(default_factory=threading.Condition)
    # Called with each message as it is sent (meter-reading serve prints them).
    observers: list[Callable[[SentMessage], None]] = field(default_factory=list)
    _send_faults: list[_Fault] = field(default_factory=list)
    _media_faults: list[_Fault] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        assert self._server is not None, "FakeTwilio is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def host(self) -> str:
        return self.base_url.removeprefix("http://")

    def start(self) -> FakeTwilio:
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        threading.Thread(target=self._server.serve_forever, name="fake-twilio", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add_media(self, message_sid: str | None, body: bytes, content_type: str) -> str:
        """Hold a photo as Twilio would for an incoming message; returns its MediaUrl0."""
        media_sid = "ME" + uuid.uuid4().hex
        message_sid = message_sid or "MM" + uuid.uuid4().hex
        path = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{message_sid}/Media/{media_sid}"
        self._media[path] = _Media(body, content_type)
        return self.base_url + path

    def fail_sending(self, status: int, times: int | None = 1, to: str | None = None) -> None:
        """Answer the next `times` messages (to `to`, or to anyone) with Twilio's error
        for `status` (429, 500, 503 or 400) instead of sending them; None: all of them."""
        code, message = _TWILIO_ERRORS[status]
        with self._changed:
            self._send_faults.append(_Fault(status, code, message, times, to))

    def fail_media(self, status: int, times: int | None = 1) -> None:
        """Answer the next `times` media downloads with HTTP `status` (None: all of them)."""
        code, message = _TWILIO_ERRORS.get(status, (20000 + status, "Error"))
        with self._changed:
            self._media_faults.append(_Fault(status, code, message, times, None))

    def _fault(self, faults: list[_Fault], to: str | None) -> _Fault | None:
        with self._changed:
            for fault in faults:
                if fault.to not in (None, to) or fault.times == 0:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                return fault
        return None

    def messages_to(self, address: str) -> list[SentMessage]:
        with self._changed:
            return [m for m in self.sent if m.to == address]

    def wait_for_messages(self, address: str, count: int, timeout: float) -> list[SentMessage]:
        """Block until `address` has received `count` messages (or the timeout passes)."""
        with self._changed:
            self._changed.wait_for(
                lambda: len([m for m in self.sent if m.to == address]) >= count, timeout
            )
            return [m for m in self.sent if m.to == address]

    def _record(self, message: SentMessage) -> None:
        with self._changed:
            self.sent.append(message)
            self._changed.notify_all()
        for observer in self.observers:
            observer(message)

    def _authorised(self, header: str | None) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return header == f"Basic {expected}"


class _Server(ThreadingHTTPServer):
    # Many executions fetch media and send messages at once: more than the default backlog of 5.
    request_queue_size = 128
    daemon_threads = True


def _handler_for(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test and demo output clean

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, message: str, code: int | None = None) -> None:
            body = json.dumps(
                {"code": code or status, "message": message, "status": status}
            ).encode()
            self._reply(status, body, "application/json")

        def do_GET(self) -> None:
            if not fake._authorised(self.headers.get("Authorization")):
                return self._error(401, "Authenticate")
            fault = fake._fault(fake._media_faults, None)
            if fault is not None:
                return self._error(fault.status, fault.message, fault.code)
            media = fake._media.get(self.path)
            if media is None:
                return self._error(404, "The requested resource was not found")
            self._reply(200, media.body, media.content_type)

        def do_POST(self) -> None:
            if not fake._authorised(self.headers.get("Authorization")):
                return self._error(401, "Authenticate")
            if self.path != f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json":
                return self._error(404, "The requested resource was not found")
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if not form.get("To") or not form.get("From") or not form.get("Body"):
                return self._error(400, "A 'To', 'From' and 'Body' are required")
            fault = fake._fault(fake._send_faults, form["To"])
            if fault is not None:
                return self._error(fault.status, fault.message.format(to=form["To"]), fault.code)
            now = datetime.now(UTC)
            message = SentMessage(
                "SM" + uuid.uuid4().hex, form["To"], form["From"], form["Body"], now
            )
            fake._record(message)
            resource = {
                "sid": message.sid,
                "account_sid": fake.account_sid,
                "to": message.to,
                "from": message.from_,
                "body": message.body,
                "status": "queued",
                "direction": "outbound-api",
                "num_media": "0",
                "num_segments": "1",
                "date_created": now.strftime("%a, %d %b %Y %H:%M:%S +0000"),
                "api_version": "2010-04-01",
                "uri": f"/2010-04-01/Accounts/{fake.account_sid}/Messages/{message.sid}.json",
            }
            self._reply(201, json.dumps(resource).encode(), "application/json")

    return Handler
