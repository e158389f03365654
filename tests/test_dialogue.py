from __future__ import annotations

import pytest

from meter_reading.domain.dialogue import (
    Command,
    CommandMessage,
    Decision,
    OtherMessage,
    PhotoMessage,
    ReplyMessage,
    classify_message,
    parse_decision,
    parse_reading,
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


@pytest.mark.parametrize(
    ("text", "reading"),
    [
        ("2050.9", "2050.9"),
        ("NO 2050.9", "2050.9"),
        ("no, it is 2050.9", "2050.9"),
        ("it is 2050.9", "2050.9"),
        ("It's 2050.9 kWh", "2050.9"),
        ("2050,9", "2050.9"),
        ("nee 2050,9", "2050.9"),
        ("2,050.9", "2050.9"),
        ("03662.0", "03662.0"),
        ("the reading is 512.37 m³", "512.37"),
    ],
)
def test_a_typed_number_is_a_correction_with_a_point_as_decimal_separator(
    text: str, reading: str
) -> None:
    assert classify_message({"NumMedia": "0", "Body": text}) == ReplyMessage(
        Decision.CORRECTED, reading
    )


@pytest.mark.parametrize(
    "text", ["12 and 13", "call me on 0821234567 tomorrow", "1.2.3", "flat 4", "12345678901"]
)
def test_other_texts_with_numbers_are_no_correction(text: str) -> None:
    assert parse_reading(text) is None
    assert not isinstance(classify_message({"NumMedia": "0", "Body": text}), ReplyMessage)


@pytest.mark.parametrize(
    ("text", "command"),
    [("HELP", Command.HELP), ("status", Command.STATUS), ("History.", Command.HISTORY)],
)
def test_commands(text: str, command: Command) -> None:
    assert classify_message({"NumMedia": "0", "Body": text}) == CommandMessage(command)
