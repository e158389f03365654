"""Download the household's photo from Twilio (plain HTTPS: no twilio SDK needed here).

What comes back is checked before anyone stores or decodes it:

- every hop, the first URL and each redirect, must be one of Twilio's media hosts, over
  https (plain http only to loopback, for the local Twilio stand-in); our credentials go to
  the first host only;
- at most 5 MB: refused from Content-Length before the body is read, and by a cap while it
  streams in (counted after decompression, so a gzip bomb stops at the cap too);
- the type is taken from the bytes (JPEG or PNG, what WhatsApp sends and Textract reads),
  never from the Content-Type header; the dimensions from the image header, so a huge
  image is refused before anything decodes it.

Errors: `UntrustedMediaUrl`, `MediaTooLarge` and `MediaNotAnImage` are permanent, the same
file fails the same way, so they are `MediaRefused` and not worth a retry; the household
should be told what to send instead. `MediaDownloadFailed` is Twilio or the network
failing: worth a retry.
"""

from __future__ import annotations

import struct
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests

# Twilio serves message media from its API host and redirects to its media CDN.
TWILIO_MEDIA_HOSTS = ("api.twilio.com", "media.twiliocdn.com", "mms.twiliocdn.com")
MAX_PHOTO_BYTES = 5 * 1024 * 1024  # WhatsApp sends photos well below this
# A 12 MP phone photo is 4032 x 3024; WhatsApp's HD photos are smaller still. Decoding costs
# about 3 bytes a pixel, so 40 MP keeps the OCR step's memory bounded.
MAX_PHOTO_PIXELS = 40_000_000
MAX_REDIRECTS = 3
_CHUNK_BYTES = 64 * 1024

_JPEG = b"\xff\xd8\xff"
_PNG = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (the ones carrying the dimensions): C0-CF but DHT, JPG, DAC.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_NO_LENGTH = frozenset({0x01, *range(0xD0, 0xD9)})  # TEM, RSTn, SOI


class MediaRefused(Exception):
    """A permanent problem with the file itself: retrying the same download cannot help."""


class UntrustedMediaUrl(MediaRefused):
    """A media URL, or a redirect, that does not point at Twilio over https: never fetched."""


class MediaTooLarge(MediaRefused):
    """More than 5 MB, or more pixels than the OCR step may decode."""


class MediaNotAnImage(MediaRefused):
    """Empty, not a JPEG or PNG whatever its Content-Type says, or a broken image header."""


class MediaDownloadFailed(Exception):
    """Twilio did not hand over the media; usually worth a retry."""


@dataclass
class MediaFetcher:
    account_sid: str
    auth_token: str
    allowed_hosts: Collection[str] = TWILIO_MEDIA_HOSTS
    timeout_seconds: float = 15.0
    max_bytes: int = MAX_PHOTO_BYTES
    max_pixels: int = MAX_PHOTO_PIXELS

    def fetch(self, url: str) -> tuple[bytes, str]:
        """The photo's bytes and its type as the bytes say (image/jpeg or image/png)."""
        first_host = self._check(url)
        for _ in range(MAX_REDIRECTS + 1):
            # Credentials only to the host we were given; a CDN link is signed by itself.
            auth = (self.account_sid, self.auth_token) if self._check(url) == first_host else None
            try:
                response = requests.get(
                    url,
                    auth=auth,
                    timeout=self.timeout_seconds,
                    stream=True,
                    allow_redirects=False,
                )
            except requests.RequestException as error:
                raise MediaDownloadFailed(f"media download failed: {error!r}") from error
            with response:
                if response.is_redirect:
                    url = urljoin(url, response.headers["Location"])
                    continue
                if response.status_code != 200:
                    raise MediaDownloadFailed(
                        f"media download answered HTTP {response.status_code}"
                    )
                body = self._read_capped(response)
            content_type = image_type(body)
            width, height = image_size(body, content_type)
            if width * height > self.max_pixels:
                raise MediaTooLarge(
                    f"the image is {width} x {height} pixels, more than {self.max_pixels}"
                )
            return body, content_type
        raise MediaDownloadFailed(f"more than {MAX_REDIRECTS} redirects")

    def _check(self, url: str) -> str:
        """The URL's host, if we may fetch it; UntrustedMediaUrl otherwise."""
        parts = urlsplit(url)
        if parts.netloc not in self.allowed_hosts:
            raise UntrustedMediaUrl(f"media host {parts.netloc!r} is not one of Twilio's")
        if parts.scheme != "https" and not (
            parts.scheme == "http" and _is_loopback(parts.hostname)
        ):
            raise UntrustedMediaUrl(f"media must be fetched over https, not {parts.scheme!r}")
        return parts.netloc

    def _read_capped(self, response: requests.Response) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise MediaTooLarge(f"media is {int(declared)} bytes, more than {self.max_bytes}")
        body = bytearray()
        try:
            for chunk in response.iter_content(chunk_size=_CHUNK_BYTES):
                body += chunk
                if len(body) > self.max_bytes:
                    raise MediaTooLarge(f"media is more than {self.max_bytes} bytes")
        except requests.RequestException as error:
            raise MediaDownloadFailed(f"media download broke off: {error!r}") from error
        return bytes(body)


def image_type(body: bytes) -> str:
    """The MIME type the bytes are, for the types we accept; MediaNotAnImage otherwise."""
    if not body:
        raise MediaNotAnImage("the media is empty")
    if body.startswith(_JPEG):
        return "image/jpeg"
    if body.startswith(_PNG):
        return "image/png"
    raise MediaNotAnImage(f"the media is not a JPEG or PNG image (starts {body[:8]!r})")


def image_size(body: bytes, content_type: str) -> tuple[int, int]:
    """(width, height) from the image header, without decoding the image."""
    if content_type == "image/png":
        # The IHDR chunk comes first: length, "IHDR", width, height.
        if len(body) < 24 or body[12:16] != b"IHDR":
            raise MediaNotAnImage("the PNG has no IHDR header")
        width, height = struct.unpack(">II", body[16:24])
        return _positive(width, height)
    position = 2
    while position + 4 <= len(body):
        if body[position] != 0xFF:
            raise MediaNotAnImage("the JPEG header is broken")
        marker = body[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in _JPEG_NO_LENGTH:
            position += 2
            continue
        (length,) = struct.unpack(">H", body[position + 2 : position + 4])
        if marker in _JPEG_SOF:
            if position + 9 > len(body):
                break
            height, width = struct.unpack(">HH", body[position + 5 : position + 9])
            return _positive(width, height)
        if marker == 0xDA or length < 2:  # image data before any frame header
            break
        position += 2 + length
    raise MediaNotAnImage("the JPEG has no frame header")


def _positive(width: int, height: int) -> tuple[int, int]:
    if width <= 0 or height <= 0:
        raise MediaNotAnImage(f"the image claims to be {width} x {height} pixels")
    return width, height


def _is_loopback(host: str | None) -> bool:
    return host in ("127.0.0.1", "localhost", "::1")
