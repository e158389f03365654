"""The answer-binding rule and the STATUS / HISTORY replies (domain only)."""

from __future__ import annotations

from datetime import UTC, datetime

from meter_reading.domain import messages
from meter_reading.domain.conversation import (
    ConfirmedEntry,
    Household,
    Question,
    Refuse,
    Resume,
    bind_answer,
    command_reply,
)
from meter_reading.domain.dialogue import Command, Decision, ReplyMessage

AT = "2026-11-28T09:00:00+00:00"
YES = ReplyMessage(Decision.YES)
ASKED = Household("MM2", Question("MM2", "2050.9", "kWh"), asked_photo_id="MM2")
# The household sent MM3 while MM2's question was open; MM3 is still being read.
NEWER_PHOTO = Household("MM3", Question("MM2", "2050.9", "kWh"), asked_photo_id="MM2")


def test_an_answer_resumes_the_question_about_the_newest_photo() -> None:
    assert bind_answer(YES, ASKED, newest_photo_being_read=False, answered_at=AT) == Resume(
        "MM2", {"decision": "YES", "answered_at": AT}
    )


def test_a_typed_number_carries_the_households_value() -> None:
    binding = bind_answer(
        ReplyMessage(Decision.CORRECTED, "2050.9"), ASKED, newest_photo_being_read=False,
        answered_at=AT,
    )  # fmt: skip
    assert isinstance(binding, Resume) and binding.output["reading"] == "2050.9"


def test_an_answer_while_the_newest_photo_is_read_confirms_nothing() -> None:
    for answer in (YES, ReplyMessage(Decision.CORRECTED, "2050.9"), ReplyMessage(Decision.NO)):
        assert bind_answer(answer, NEWER_PHOTO, True, AT) == Refuse(messages.STILL_READING)


def test_an_answer_with_no_question_is_told_so() -> None:
    nothing = Household(latest_photo_id=None, question=None)
    assert bind_answer(YES, nothing, False, AT) == Refuse(messages.NOTHING_PENDING)
    unreadable = Household(latest_photo_id="MM4", question=None)  # never asked, execution over
    assert bind_answer(YES, unreadable, False, AT) == Refuse(messages.NOTHING_PENDING)
    answered = Household("MM4", question=None, asked_photo_id="MM4")  # NO, still finishing
    assert bind_answer(YES, answered, True, AT) == Refuse(messages.NOTHING_PENDING)


def test_status_says_what_is_waiting() -> None:
    assert command_reply(Command.STATUS, NEWER_PHOTO, True, []) == (messages.status_reading_photo())
    assert "*2050.9 kWh*" in command_reply(Command.STATUS, ASKED, False, [])
    last = ConfirmedEntry("2050.9", "kWh", datetime(2026, 11, 3, tzinfo=UTC), False)
    idle = command_reply(Command.STATUS, Household(None, None), False, [last])
    assert idle.startswith("Nothing is waiting") and "2050.9 kWh on 3 November 2026" in idle


def test_history_lists_the_confirmed_readings_newest_first() -> None:
    entries = [
        ConfirmedEntry(f"{2000 + day}.0", "kWh", datetime(2026, 11, day, tzinfo=UTC), day == 4)
        for day in (1, 2, 3, 4, 5)
    ]
    text = command_reply(Command.HISTORY, Household(None, None), False, entries)
    assert text.splitlines() == [
        "Your last confirmed readings:",
        "5 November 2026: 2005.0 kWh",
        "4 November 2026: 2004.0 kWh (typed by you)",
        "3 November 2026: 2003.0 kWh",
        "2 November 2026: 2002.0 kWh",
        "1 November 2026: 2001.0 kWh",
    ]
    assert "no confirmed readings" in command_reply(
        Command.HISTORY, Household(None, None), False, []
    )


def test_help_explains_photos_answers_and_commands() -> None:
    text = command_reply(Command.HELP, Household(None, None), False, [])
    assert "photo" in text and "YES" in text and "STATUS" in text and "HISTORY" in text
