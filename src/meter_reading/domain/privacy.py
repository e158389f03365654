"""Phone numbers are personal data: logs only ever see them masked."""

from __future__ import annotations

import re


def mask_phone(address: str) -> str:
    """'whatsapp:+27821234567' -> 'whatsapp:+27*****4567': enough to tell users apart in logs."""
    prefix, _, number = address.rpartition(":")
    digit_positions = [i for i, ch in enumerate(number) if ch.isdigit()]
    hidden = set(digit_positions[2:-4]) if len(digit_positions) > 6 else set(digit_positions)
    masked = "".join("*" if i in hidden else ch for i, ch in enumerate(number))
    return f"{prefix}:{masked}" if prefix else masked


# E.164 numbers ("+27821234567", "whatsapp:+27821234567") and bare runs of 9 to 15 digits
# (Twilio's WaId is the number without its "+").
_PHONE = re.compile(r"(?:whatsapp:)?\+[0-9]{6,15}(?![0-9])|(?<![0-9A-Za-z])[0-9]{9,15}(?![0-9])")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
# A Twilio resource path without its host, as HTTP libraries quote it ("... with url: /2010-...").
_TWILIO_PATH = re.compile(r"/[^\s'\"]*Accounts/AC[0-9a-fA-F]{32}[^\s'\"]*")


def scrub(text: str) -> str:
    """Text fit for logs and execution history: URLs dropped, phone numbers masked.

    Error messages quote what they were given: an HTTP library the media URL it could not
    fetch, Twilio the number it could not message.
    """
    text = _URL.sub("<url>", text)
    text = _TWILIO_PATH.sub("<twilio resource>", text)
    return _PHONE.sub(lambda match: mask_phone(match.group(0)), text)
