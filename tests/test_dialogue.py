from __future__ import annotations

import pytest

from meter_reading.domain.dialogue import (
    Decision,
    OtherMessage,
    PhotoMessage,
    ReplyMessage,
    classify_message,
    parse_decision,
)


@pytest.mark.parametrize("text", ["YES", "yes", " Yes! ", "y", "ja", "Yebo", "ok."])
def test_yes_in_the_ways_people_write_it(text: str) -> None:
    assert parse_decision(text) is Decision.YES


@pytest.mark.parametrize("text", ["NO", "no.", "N", "nee", "Cha", "hayi"])
def test_no_in_the_ways_people_write_it(text: str) -> None:
    assert parse_decision(text) is Decision.NO


@pytest.mark.parametrize("text", ["", "yes no", "maybe", "yes please send it", "03662"])
def test_anything_else_is_no_decision(text: str) -> None:
    assert parse_decision(text) is None


def test_a_photo_wins_over_its_caption() -> None:
    form = {
        "NumMedia": "1",
        "MediaUrl0": "https://api.twilio.com/media/1",
        "MediaContentType0": "image/jpeg",
        "Body": "YES",
    }
    assert classify_message(form) == PhotoMessage("https://api.twilio.com/media/1", "image/jpeg")


def test_a_non_image_attachment_is_not_a_photo() -> None:
    form = {
        "NumMedia": "1",
        "MediaUrl0": "https://api.twilio.com/media/1",
        "MediaContentType0": "audio/ogg",
        "Body": "",
    }
    assert classify_message(form) == OtherMessage("")


def test_a_text_reply_is_a_decision() -> None:
    assert classify_message({"NumMedia": "0", "Body": "no"}) == ReplyMessage(Decision.NO)
