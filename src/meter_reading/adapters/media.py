"""Download the household's photo from Twilio (plain HTTPS: no twilio SDK needed here)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

# Twilio serves message media from its API host and redirects to its media CDN.
TWILIO_MEDIA_HOSTS = ("api.twilio.com", "media.twiliocdn.com", "mms.twiliocdn.com")
MAX_PHOTO_BYTES = 16 * 1024 * 1024  # WhatsApp's own limit for images is lower


class UntrustedMediaUrl(Exception):
    """A media URL that does not point at Twilio: never fetched with our credentials."""


class MediaDownloadFailed(Exception):
    """Twilio did not hand over the media; usually worth a retry."""


@dataclass
class MediaFetcher:
    account_sid: str
    auth_token: str
    allowed_hosts: Collection[str] = TWILIO_MEDIA_HOSTS
    timeout_seconds: float = 15.0

    def fetch(self, url: str) -> tuple[bytes, str]:
        """The media's bytes and content type, fetched from Twilio's hosts only."""
        parts = urlsplit(url)
        if parts.netloc not in self.allowed_hosts:
            raise UntrustedMediaUrl(f"media host {parts.netloc!r} is not one of Twilio's")
        if parts.scheme != "https" and not _is_loopback(parts.hostname):
            raise UntrustedMediaUrl("media must be fetched over https")
        # requests drops the Authorization header itself when a redirect leaves the host.
        response = requests.get(
            url, auth=(self.account_sid, self.auth_token), timeout=self.timeout_seconds, stream=True
        )
        if response.status_code != 200:
            raise MediaDownloadFailed(f"media download answered HTTP {response.status_code}")
        body = response.raw.read(MAX_PHOTO_BYTES + 1, decode_content=True)
        if len(body) > MAX_PHOTO_BYTES:
            raise MediaDownloadFailed("media is larger than we accept")
        content_type = response.headers.get("Content-Type", "application/octet-stream")
        return body, content_type.split(";")[0].strip()


def _is_loopback(host: str | None) -> bool:
    return host in ("127.0.0.1", "localhost", "::1")
