"""What an incoming WhatsApp message means: a meter photo, a YES/NO answer, or neither."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Decision(StrEnum):
    YES = "YES"
    NO = "NO"


# South African users answer in more than English: Afrikaans (ja/nee), isiZulu and
# isiXhosa (yebo/cha/hayi), Sesotho/Setswana (ee/tjhe, nnyaa).
_YES_WORDS = frozenset(
    {"yes", "y", "yep", "yeah", "ok", "okay", "correct", "ja", "yebo", "ewe", "ee"}
)
_NO_WORDS = frozenset(
    {"no", "n", "nope", "wrong", "incorrect", "nee", "cha", "hayi", "tjhe", "nnyaa"}
)
_NON_LETTERS = re.compile(r"[^a-z]+")


def parse_decision(text: str) -> Decision | None:
    """YES or NO from a short reply ("Yes!", " no. ", "JA"), None for anything else."""
    words = [w for w in _NON_LETTERS.split(text.strip().lower()) if w]
    if len(words) != 1:
        return None
    if words[0] in _YES_WORDS:
        return Decision.YES
    if words[0] in _NO_WORDS:
        return Decision.NO
    return None


@dataclass(frozen=True)
class PhotoMessage:
    media_url: str
    content_type: str


@dataclass(frozen=True)
class ReplyMessage:
    decision: Decision


@dataclass(frozen=True)
class OtherMessage:
    text: str


IncomingMessage = PhotoMessage | ReplyMessage | OtherMessage

_SUPPORTED_IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})


def classify_message(form: dict[str, str]) -> IncomingMessage:
    """Classify a Twilio WhatsApp webhook by its form fields (NumMedia, MediaUrl0, Body)."""
    num_media = int(form.get("NumMedia", "0") or "0")
    for index in range(num_media):
        content_type = form.get(f"MediaContentType{index}", "")
        media_url = form.get(f"MediaUrl{index}", "")
        if content_type in _SUPPORTED_IMAGE_TYPES and media_url:
            return PhotoMessage(media_url=media_url, content_type=content_type)
    body = form.get("Body", "")
    decision = parse_decision(body)
    if decision is not None:
        return ReplyMessage(decision=decision)
    return OtherMessage(text=body)
