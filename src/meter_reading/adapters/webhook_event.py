"""What API Gateway hands the webhook, checked before anything trusts it.

Both of API Gateway's Lambda proxy formats are read: REST APIs' payload 1.0 (what
template.yaml deploys) and HTTP APIs' payload 2.0. Anything malformed is a `BadRequest`
with a short reason fit for the answer and the logs: the reasons never quote the request,
so no phone number or message text reaches a log through them.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode

# Twilio's form posts are a few kilobytes; API Gateway would pass up to 10 MB.
MAX_BODY_BYTES = 64 * 1024
# A host name or IPv4 address, or a bracketed IPv6 address, with an optional port.
_HOST = re.compile(
    r"(?P<name>[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
    r"[A-Za-z0-9])?)*|\[(?P<ipv6>[0-9A-Fa-f:.]{2,45})\])(?::(?P<port>[0-9]{1,5}))?",
    re.ASCII,
)
# The path and query as they may appear in a URL Twilio signed: printable ASCII, no spaces.
_URL_PART = re.compile(r"[!-~]*", re.ASCII)


class BadRequest(Exception):
    """The request cannot be from Twilio as it stands; the message is the 400's reason."""


class WebhookRequest(NamedTuple):
    """The URL Twilio called, its form fields, and the signature header (a named tuple, not
    a frozen dataclass: made at every cold start, a dataclass takes about 0.5 ms)."""

    url: str
    form: dict[str, str]
    signature: str | None


def parse_event(event: Any) -> WebhookRequest:
    """The request in an API Gateway proxy event (payload 1.0 or 2.0); BadRequest if malformed."""
    if not isinstance(event, Mapping):
        raise BadRequest("not an API Gateway proxy event")
    if event.get("version") == "2.0":
        return _parse_v2(event)
    return _parse_v1(event)


def _parse_v1(event: Mapping[str, Any]) -> WebhookRequest:
    headers = _headers(event.get("headers"))
    context = _optional_mapping(event.get("requestContext"), "requestContext")
    # The stage's path (/Prod/webhook) is the one Twilio called; `path` lacks the stage.
    path = context.get("path") or event.get("path")
    host = headers.get("host") or context.get("domainName")
    query = _v1_query(event.get("multiValueQueryStringParameters"))
    url = _url(headers.get("x-forwarded-proto"), host, path, query)
    return WebhookRequest(url, _form(event), headers.get("x-twilio-signature"))


def _parse_v2(event: Mapping[str, Any]) -> WebhookRequest:
    headers = _headers(event.get("headers"))
    context = _optional_mapping(event.get("requestContext"), "requestContext")
    http = _optional_mapping(context.get("http"), "requestContext.http")
    path = event.get("rawPath") or http.get("path")
    host = headers.get("host") or context.get("domainName")
    query = event.get("rawQueryString") or ""
    if not isinstance(query, str):
        raise BadRequest("rawQueryString is not a string")
    url = _url(headers.get("x-forwarded-proto"), host, path, query)
    return WebhookRequest(url, _form(event), headers.get("x-twilio-signature"))


def _optional_mapping(value: Any, name: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadRequest(f"{name} is not an object")
    return value


def _headers(value: Any) -> dict[str, str]:
    """Header names lower-cased (HTTP APIs lower-case them, REST APIs keep Twilio's case)."""
    headers: dict[str, str] = {}
    for name, header in _optional_mapping(value, "headers").items():
        if not isinstance(name, str) or not isinstance(header, str):
            raise BadRequest("a header is not a string")
        headers[name.lower()] = header
    return headers


def _v1_query(value: Any) -> str:
    pairs: list[tuple[str, str]] = []
    for name, values in _optional_mapping(value, "multiValueQueryStringParameters").items():
        if not isinstance(name, str) or not isinstance(values, list):
            raise BadRequest("the query string parameters are malformed")
        for item in values:
            if not isinstance(item, str):
                raise BadRequest("the query string parameters are malformed")
            pairs.append((name, item))
    try:
        return urlencode(pairs)
    except UnicodeError as error:
        raise BadRequest("the query string is not UTF-8") from error


def _url(scheme: Any, host: Any, path: Any, query: str) -> str:
    """The public URL Twilio signed; BadRequest if its parts cannot make a URL."""
    scheme = scheme or "https"
    if scheme not in ("https", "http"):
        raise BadRequest("X-Forwarded-Proto is neither https nor http")
    if not isinstance(host, str) or not host:
        raise BadRequest("no Host header")
    if not _valid_host(host):
        raise BadRequest("the Host header is not a host name")
    if not isinstance(path, str) or not path.startswith("/") or not _URL_PART.fullmatch(path):
        raise BadRequest("no usable request path")
    if not _URL_PART.fullmatch(query):
        raise BadRequest("the query string is not printable ASCII")
    return f"{scheme}://{host}{path}" + (f"?{query}" if query else "")


def _valid_host(host: str) -> bool:
    """A Host header urllib and the signature check can take: "a:b" and "[x" cannot."""
    match = _HOST.fullmatch(host)
    if match is None:
        return False
    port = match.group("port")
    if port is not None and not 0 < int(port) < 65536:
        return False
    if match.group("ipv6") is not None:
        try:
            ipaddress.IPv6Address(match.group("ipv6"))
        except ValueError:
            return False
    return True


def _form(event: Mapping[str, Any]) -> dict[str, str]:
    """The form fields of the body (Twilio posts application/x-www-form-urlencoded)."""
    body = event.get("body")
    if body is None:
        return {}
    if not isinstance(body, str):
        raise BadRequest("the body is not a string")
    encoded = event.get("isBase64Encoded")
    if encoded not in (None, True, False):
        raise BadRequest("isBase64Encoded is not a boolean")
    if encoded:
        if len(body) > MAX_BODY_BYTES * 4 // 3 + 4:
            raise BadRequest("the body is too large")
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as error:
            raise BadRequest("the body is not valid base64") from error
    else:
        try:
            raw = body.encode("utf-8")
        except UnicodeError as error:
            raise BadRequest("the body is not UTF-8") from error
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest("the body is too large")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest("the body is not UTF-8") from error
    try:
        # Percent-escapes of bytes that are not UTF-8 must not become lone surrogates.
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict")
    except (UnicodeError, ValueError) as error:
        raise BadRequest("the body is not a form") from error
    return dict(pairs)
