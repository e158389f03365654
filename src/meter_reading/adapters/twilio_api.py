"""Twilio's REST API: write back to the household on WhatsApp."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


@dataclass
class WhatsAppSender:
    client: Client
    from_address: str  # "whatsapp:+14155238886"

    def send(self, to: str, body: str) -> str:
        message = self.client.messages.create(to=to, from_=self.from_address, body=body)
        sid: str = message.sid
        return sid
