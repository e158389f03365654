"""Fetching the household's photo: what we accept and what we refuse, over real local HTTP.

Two local servers stand in for Twilio's API host and its CDN (both on the allow-list, as
loopback they may use plain http); a third one is a host that is not Twilio's.
"""

from __future__ import annotations

import gzip
import io
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image

from meter_reading.adapters.media import (
    MAX_PHOTO_BYTES,
    MediaDownloadFailed,
    MediaFetcher,
    MediaNotAnImage,
    MediaRefused,
    MediaTooLarge,
    UntrustedMediaUrl,
)

Reply = tuple[int, dict[str, str], bytes]


@dataclass
class Host:
    """A local HTTP server answering each path with a fixed reply, and noting who asked."""

    routes: dict[str, Reply | Callable[[BaseHTTPRequestHandler], None]] = field(
        default_factory=dict
    )
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, auth)
    server: ThreadingHTTPServer | None = None

    @property
    def netloc(self) -> str:
        assert self.server is not None
        return f"127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str) -> str:
        return f"http://{self.netloc}{path}"

    def start(self) -> Host:
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host.requests.append((self.path, self.headers.get("Authorization")))
                route = host.routes.get(self.path, (404, {}, b"not found"))
                if callable(route):
                    route(self)
                    return
                status, headers, body = route
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server = self.server
        serve = threading.Thread(target=lambda: server.serve_forever(poll_interval=0.05))
        serve.daemon = True
        serve.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def hosts() -> Iterator[tuple[Host, Host, Host]]:
    started = [Host().start() for _ in range(3)]
    yield started[0], started[1], started[2]
    for host in started:
        host.stop()


@pytest.fixture
def twilio(hosts: tuple[Host, Host, Host]) -> Host:
    return hosts[0]


@pytest.fixture
def cdn(hosts: tuple[Host, Host, Host]) -> Host:
    return hosts[1]


@pytest.fixture
def elsewhere(hosts: tuple[Host, Host, Host]) -> Host:
    return hosts[2]


@pytest.fixture
def fetcher(twilio: Host, cdn: Host) -> MediaFetcher:
    return MediaFetcher("AC123", "secret", allowed_hosts=(twilio.netloc, cdn.netloc))


def _photo(kind: str = "JPEG", size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 220, 200)).save(buffer, kind)
    return buffer.getvalue()


def _with_dimensions(photo: bytes, width: int, height: int) -> bytes:
    """The same small file, its header claiming other dimensions (no need to build them)."""
    if photo.startswith(b"\x89PNG"):
        return photo[:16] + struct.pack(">II", width, height) + photo[24:]
    sof = photo.index(b"\xff\xc0")
    return photo[: sof + 5] + struct.pack(">HH", height, width) + photo[sof + 9 :]


def test_a_photo_is_fetched_with_the_type_its_bytes_say(
    fetcher: MediaFetcher, twilio: Host
) -> None:
    photo = _photo("PNG")
    twilio.routes["/Media/ME1"] = (200, {"Content-Type": "application/octet-stream"}, photo)

    body, content_type = fetcher.fetch(twilio.url("/Media/ME1"))

    assert body == photo and content_type == "image/png"
    assert twilio.requests[0][1] is not None  # Twilio's API host gets the account's basic auth


def test_a_redirect_within_twilio_is_followed_and_only_the_api_host_gets_credentials(
    fetcher: MediaFetcher, twilio: Host, cdn: Host
) -> None:
    photo = _photo()
    twilio.routes["/Media/ME2"] = (307, {"Location": cdn.url("/signed/ME2")}, b"")
    cdn.routes["/signed/ME2"] = (200, {"Content-Type": "image/jpeg"}, photo)

    assert fetcher.fetch(twilio.url("/Media/ME2")) == (photo, "image/jpeg")
    assert cdn.requests == [("/signed/ME2", None)]


def test_a_redirect_to_another_host_is_refused_before_anything_is_fetched(
    fetcher: MediaFetcher, twilio: Host, elsewhere: Host
) -> None:
    elsewhere.routes["/meter.jpg"] = (200, {"Content-Type": "image/jpeg"}, _photo())
    twilio.routes["/Media/ME3"] = (302, {"Location": elsewhere.url("/meter.jpg")}, b"")

    with pytest.raises(UntrustedMediaUrl, match="not one of Twilio's"):
        fetcher.fetch(twilio.url("/Media/ME3"))
    assert elsewhere.requests == []


def test_a_redirect_to_plain_http_is_refused_even_on_a_twilio_host(twilio: Host) -> None:
    fetcher = MediaFetcher("AC123", "secret", allowed_hosts=(twilio.netloc, "mms.twiliocdn.com"))
    twilio.routes["/Media/ME4"] = (302, {"Location": "http://mms.twiliocdn.com/ME4"}, b"")

    with pytest.raises(UntrustedMediaUrl, match="https"):
        fetcher.fetch(twilio.url("/Media/ME4"))


def test_a_media_url_outside_twilio_is_never_fetched(fetcher: MediaFetcher) -> None:
    with pytest.raises(UntrustedMediaUrl):
        fetcher.fetch("https://attacker.example.com/meter.jpg")


def test_endless_redirects_give_up(fetcher: MediaFetcher, twilio: Host) -> None:
    twilio.routes["/Media/ME5"] = (302, {"Location": "/Media/ME5"}, b"")

    with pytest.raises(MediaDownloadFailed, match="redirects"):
        fetcher.fetch(twilio.url("/Media/ME5"))


def test_a_declared_size_over_the_limit_is_refused_before_the_body_is_read(
    fetcher: MediaFetcher, twilio: Host
) -> None:
    def promise_20_mb(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/jpeg")
        handler.send_header("Content-Length", str(20 * 1024 * 1024))
        handler.end_headers()
        handler.wfile.write(_photo())  # then nothing: a reader waiting for 20 MB would hang

    twilio.routes["/Media/ME6"] = promise_20_mb
    started = time.monotonic()

    with pytest.raises(MediaTooLarge, match="20971520 bytes"):
        fetcher.fetch(twilio.url("/Media/ME6"))
    assert time.monotonic() - started < fetcher.timeout_seconds


def test_a_stream_over_the_limit_is_cut_off(fetcher: MediaFetcher, twilio: Host) -> None:
    def stream_without_length(handler: BaseHTTPRequestHandler) -> None:
        handler.protocol_version = "HTTP/1.0"  # no Content-Length: the body ends at close
        handler.send_response(200)
        handler.send_header("Content-Type", "image/jpeg")
        handler.end_headers()
        chunk = _photo() + b"\0" * 65536
        try:
            for _ in range(2 * MAX_PHOTO_BYTES // len(chunk)):
                handler.wfile.write(chunk)
        except OSError:
            pass  # we hung up

    twilio.routes["/Media/ME7"] = stream_without_length

    with pytest.raises(MediaTooLarge, match="more than 5242880 bytes"):
        fetcher.fetch(twilio.url("/Media/ME7"))


def test_a_compressed_body_is_capped_after_decompression(
    fetcher: MediaFetcher, twilio: Host
) -> None:
    bomb = gzip.compress(_photo() + b"\0" * (50 * 1024 * 1024))
    assert len(bomb) < 100_000
    twilio.routes["/Media/ME8"] = (
        200,
        {"Content-Type": "image/jpeg", "Content-Encoding": "gzip"},
        bomb,
    )

    with pytest.raises(MediaTooLarge):
        fetcher.fetch(twilio.url("/Media/ME8"))


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"<html><body>Not found</body></html>", "not a JPEG or PNG"),
        (b"", "empty"),
        (b"GIF89a" + b"\0" * 100, "not a JPEG or PNG"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\0" * 20, "JPEG"),  # cut short
    ],
    ids=["html-page", "empty", "gif", "truncated-jpeg"],
)
def test_what_is_not_a_photo_is_refused_whatever_its_content_type(
    fetcher: MediaFetcher, twilio: Host, body: bytes, match: str
) -> None:
    twilio.routes["/Media/ME9"] = (200, {"Content-Type": "image/jpeg"}, body)

    with pytest.raises(MediaNotAnImage, match=match):
        fetcher.fetch(twilio.url("/Media/ME9"))


@pytest.mark.parametrize(
    ("kind", "width", "height"), [("JPEG", 10_000, 10_000), ("PNG", 20_000, 20_000)]
)
def test_an_image_with_too_many_pixels_is_refused_from_its_header(
    fetcher: MediaFetcher, twilio: Host, kind: str, width: int, height: int
) -> None:
    huge = _with_dimensions(_photo(kind), width, height)
    assert len(huge) < 10_000  # small on the wire, gigabytes once decoded
    twilio.routes["/Media/ME10"] = (200, {"Content-Type": f"image/{kind.lower()}"}, huge)

    with pytest.raises(MediaTooLarge, match=f"{width} x {height} pixels"):
        fetcher.fetch(twilio.url("/Media/ME10"))


def test_a_phone_sized_photo_is_accepted(fetcher: MediaFetcher, twilio: Host) -> None:
    photo = _with_dimensions(_photo(), 4032, 3024)
    twilio.routes["/Media/ME11"] = (200, {"Content-Type": "image/jpeg"}, photo)

    assert fetcher.fetch(twilio.url("/Media/ME11"))[1] == "image/jpeg"


def test_twilio_failing_is_worth_a_retry(fetcher: MediaFetcher, twilio: Host) -> None:
    twilio.routes["/Media/ME12"] = (503, {}, b"busy")

    with pytest.raises(MediaDownloadFailed, match="503"):
        fetcher.fetch(twilio.url("/Media/ME12"))
    # An unreachable host is too; nothing here says the file is bad.
    down = MediaFetcher("AC123", "secret", allowed_hosts=("127.0.0.1:1",), timeout_seconds=2)
    with pytest.raises(MediaDownloadFailed):
        down.fetch("http://127.0.0.1:1/Media/ME13")


def test_the_permanent_problems_share_one_base_and_the_transient_one_does_not() -> None:
    # The state machine routes by the error's name; code may catch MediaRefused as a whole.
    for permanent in (UntrustedMediaUrl, MediaTooLarge, MediaNotAnImage):
        assert issubclass(permanent, MediaRefused)
    assert not issubclass(MediaDownloadFailed, MediaRefused)
