"""The conversation with one household: which question an answer belongs to.

The binding rule: an answer (YES, NO or a typed number) belongs to the question the
household was asked about its *newest* photo. While that photo is still being read there
is no such question yet, so the answer confirms nothing, not even an older reading, and
the household is told we are still reading. A newer photo replaces the question about an
older one (which ends SUPERSEDED), and each inbound message is acted on once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from meter_reading.domain import messages
from meter_reading.domain.dialogue import Command, Decision, ReplyMessage


@dataclass(frozen=True)
class Question:
    """The question the household was last asked: about which reading, showing what."""

    reading_id: str
    reading: str
    unit: str


@dataclass(frozen=True)
class Household:
    latest_photo_id: str | None  # MessageSid of the newest photo it sent
    question: Question | None  # the open question, if any
    asked_photo_id: str | None = None  # the newest photo it was asked about (answered or not)

    def newest_photo_unanswerable(self) -> bool:
        """The newest photo has not been asked about (it may still be being read)."""
        if self.latest_photo_id is None:
            return False
        return self.latest_photo_id != self.asked_photo_id


@dataclass(frozen=True)
class Resume:
    """Pass the answer on to the execution waiting on this reading's question."""

    reading_id: str
    output: dict[str, str]


@dataclass(frozen=True)
class Refuse:
    """Act on nothing; tell the household why."""

    reply: str


def bind_answer(
    answer: ReplyMessage, household: Household, newest_photo_being_read: bool, answered_at: str
) -> Resume | Refuse:
    """Which question `answer` answers, if any (`newest_photo_being_read` from its execution)."""
    if household.newest_photo_unanswerable() and newest_photo_being_read:
        return Refuse(messages.STILL_READING)
    question = household.question
    if question is None:
        return Refuse(messages.NOTHING_PENDING)
    output = {"decision": answer.decision.value, "answered_at": answered_at}
    if answer.decision is Decision.CORRECTED and answer.reading is not None:
        output["reading"] = answer.reading
    return Resume(question.reading_id, output)


def superseded_output(newer_reading_id: str, at: str) -> dict[str, str]:
    """What the waiting execution is told when a newer photo replaces its question."""
    return {"decision": Decision.SUPERSEDED.value, "superseded_by": newer_reading_id, "at": at}


@dataclass(frozen=True)
class ConfirmedEntry:
    reading: str
    unit: str
    at: datetime
    typed_by_household: bool


def status_reply(
    household: Household, newest_photo_being_read: bool, last: ConfirmedEntry | None
) -> str:
    """STATUS: what is waiting, if anything."""
    if household.newest_photo_unanswerable() and newest_photo_being_read:
        return messages.status_reading_photo()
    if household.question is not None:
        return messages.status_question_waiting(household.question.reading, household.question.unit)
    shown = (
        f"{messages.format_reading(last.reading, last.unit)} on {_day(last.at)}" if last else None
    )
    return messages.status_nothing_waiting(shown)


def history_reply(confirmed: Sequence[ConfirmedEntry]) -> str:
    """HISTORY: the household's last confirmed readings, newest first."""
    newest_first = sorted(confirmed, key=lambda entry: entry.at, reverse=True)
    return messages.history(
        [
            messages.history_line(_day(e.at), e.reading, e.unit, e.typed_by_household)
            for e in newest_first
        ]
    )


def command_reply(
    command: Command,
    household: Household,
    newest_photo_being_read: bool,
    confirmed: Sequence[ConfirmedEntry],
) -> str:
    if command is Command.STATUS:
        return status_reply(household, newest_photo_being_read, confirmed[0] if confirmed else None)
    if command is Command.HISTORY:
        return history_reply(confirmed)
    return messages.HELP


def _day(at: datetime) -> str:
    return f"{at.day} {at:%B %Y}"
