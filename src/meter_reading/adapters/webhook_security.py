"""Is this request really from Twilio? Checked on the exact public URL Twilio called."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator


def public_url(
    headers: Mapping[str, str],
    path: str,
    query: Mapping[str, list[str]] | None,
) -> str:
    """The URL Twilio signed, rebuilt from an API Gateway proxy event."""
    lowered = {name.lower(): value for name, value in headers.items()}
    scheme = lowered.get("x-forwarded-proto", "https")
    host = lowered.get("host", "")
    url = f"{scheme}://{host}{path}"
    if query:
        url += "?" + urlencode([(k, v) for k, values in query.items() for v in values])
    return url


def is_from_twilio(
    auth_token: str, url: str, form: Mapping[str, str], signature: str | None
) -> bool:
    if not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, dict(form), signature))
