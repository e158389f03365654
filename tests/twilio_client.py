"""Twilio's side of a served pipeline, for tests: signed form posts, media, what was sent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import requests
from twilio.request_validator import RequestValidator

from meter_reading.local.runtime import ACCOUNT_SID, WHATSAPP_FROM


class Twilio:
    """What Twilio does against a served pipeline: signed form posts to the public URL."""

    def __init__(self, base_url: str, public_url: str, auth_token: str) -> None:
        self.auth_token = auth_token
        self.base_url = base_url
        self.public_url = public_url
        self.validator = RequestValidator(auth_token)

    def form(self, sender: str, body: str = "", media_url: str | None = None) -> dict[str, str]:
        prefix = "MM" if media_url else "SM"
        form = {
            "MessageSid": prefix + uuid.uuid4().hex,
            "AccountSid": ACCOUNT_SID,
            "From": sender,
            "To": WHATSAPP_FROM,
            "Body": body,
            "NumMedia": "1" if media_url else "0",
        }
        if media_url:
            form |= {"MediaUrl0": media_url, "MediaContentType0": "image/jpeg"}
        return form

    def post(self, form: dict[str, str], signature: str | None = None) -> requests.Response:
        if signature is None:
            signature = self.validator.compute_signature(self.public_url, form)
        return requests.post(
            f"{self.base_url}/webhook",
            data=urlencode(form),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature,
            },
            timeout=30,
        )

    def upload(self, photo: bytes) -> str:
        response = requests.post(
            f"{self.base_url}/local/media",
            data=photo,
            headers={"Content-Type": "image/jpeg"},
            timeout=30,
        )
        assert response.status_code == 201
        url: str = response.json()["url"]
        return url

    def get(self, path: str, **params: str) -> Any:
        response = requests.get(f"{self.base_url}{path}", params=params, timeout=30)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()

    def wait_for_messages(self, to: str, count: int, timeout: float = 300) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            received: list[dict[str, Any]] = self.get("/local/messages", to=to)
            if len(received) >= count or time.monotonic() > deadline:
                return received
            time.sleep(0.3)


class ServedCommand:
    """`meter-reading serve` run as a person starts it, on a free port; stopped with Ctrl-C.

    ``base_url`` and ``twilio`` while it runs; ``printed`` (all it printed) and
    ``returncode`` once the ``with`` block has ended.
    """

    def __init__(self, auth_token: str, amqp_url: str) -> None:
        self.auth_token = auth_token
        self.amqp_url = amqp_url
        self.printed = ""
        self.returncode: int | None = None

    def __enter__(self) -> ServedCommand:
        env = {**os.environ, "TWILIO_AUTH_TOKEN": self.auth_token, "AMQP_URL": self.amqp_url}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "meter_reading.cli", "serve", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        assert self._process.stdout is not None
        self._lines: list[str] = []
        try:
            for line in self._process.stdout:
                self._lines.append(line)
                if line.startswith("Ctrl-C"):
                    break
            listening = next(line for line in self._lines if "Listening on" in line)
        except BaseException:
            self._stop()
            raise
        self.base_url = listening.split("Listening on ")[1].split(";")[0]
        self.twilio = Twilio(self.base_url, f"{self.base_url}/webhook", self.auth_token)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop()

    def _stop(self) -> None:
        self._process.send_signal(signal.SIGINT)
        out, _ = self._process.communicate(timeout=60)
        self.printed = "".join(self._lines) + out
        self.returncode = self._process.returncode
