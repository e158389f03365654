"""Twilio's REST API: write back to the household on WhatsApp."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

TWILIO_API_BASE = "https://api.twilio.com"


class _RebasedHttpClient(TwilioHttpClient):  # type: ignore[misc]
    """Sends the twilio client's requests to another base URL (the local Twilio fake)."""

    def __init__(self, base_url: str) -> None:
        super().__init__(timeout=10)
        self._base_url = base_url.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if url.startswith(TWILIO_API_BASE):
            url = self._base_url + url[len(TWILIO_API_BASE) :]
        return super().request(method, url, *args, **kwargs)


def twilio_client(account_sid: str, auth_token: str, api_base_url: str | None = None) -> Client:
    http_client = _RebasedHttpClient(api_base_url) if api_base_url else TwilioHttpClient(timeout=10)
    return Client(account_sid, auth_token, http_client=http_client)


class WhatsAppUnavailable(Exception):
    """Twilio is throttling us (429), failing (5xx) or out of reach: worth a retry.

    Its name is the error the state machine retries on: keep it.
    """


class WhatsAppRefused(Exception):
    """Twilio refused the message (any other 4xx): sending it again would be refused again."""


@dataclass
class WhatsAppSender:
    client: Client
    from_address: str  # "whatsapp:+14155238886"

    def send(self, to: str, body: str) -> str:
        try:
            message = self.client.messages.create(to=to, from_=self.from_address, body=body)
        except TwilioRestException as error:
            # Twilio's own text often quotes the number: only the status and code go on.
            if error.status == 429 or error.status >= 500:
                raise WhatsAppUnavailable(
                    f"Twilio answered HTTP {error.status} (error {error.code})"
                ) from error
            raise WhatsAppRefused(
                f"Twilio refused the message: HTTP {error.status} (error {error.code})"
            ) from error
        except (requests.RequestException, TwilioException) as error:
            reason = f"Twilio could not be reached: {type(error).__name__}"
            raise WhatsAppUnavailable(reason) from error
        sid: str = message.sid
        return sid
