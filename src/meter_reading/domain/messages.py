"""Every text the household reads on WhatsApp, in one place."""

from __future__ import annotations

PHOTO_RECEIVED = "Thanks, we got your meter photo. We're reading it now and will reply in a moment."

HELP = (
    "Hi! To submit your meter reading, send us a clear photo of the meter's display. "
    "When we ask you to check a reading, reply YES if it is right, or type the number your "
    "meter shows (for example 2050.9). Reply NO to send a new photo instead.\n"
    "STATUS: what we are waiting for. HISTORY: your last five confirmed readings."
)

NOTHING_PENDING = (
    "We have no reading waiting for your answer. "
    "To submit a reading, send us a clear photo of your meter's display."
)

STILL_READING = (
    "We're still reading your latest photo, so we have not used that answer. "
    "We will send you the reading in a moment; please answer that message."
)

PHOTO_TIPS = (
    "Tips: stand in good light, hold the phone steady and upright, fill the picture with the "
    "meter's display, and avoid glare and shadows on the glass."
)

_UNREADABLE_REASONS = {
    "no_text": "We could not find any writing in the photo.",
    "no_display": "We could not find the meter's display in the photo.",
    "several_candidates": "We found several numbers and could not tell which one is the reading.",
    "low_confidence": "The numbers on the display were not clear enough to read.",
    "too_dark": "The photo is too dark to read the display.",
    "blurred": "The photo is too blurred to read the display.",
    "unsupported_media": "We could not open that file as a photo.",
    "not_a_meter": "That does not look like an electricity or water meter.",
}


def format_reading(reading: str, unit: str) -> str:
    return f"{reading} {unit}".strip()


def confirmation_prompt(
    reading: str, unit: str, photo_link: str, certain: bool, problem: str | None = None
) -> str:
    """The question: the reading as the display prints it, in the meter's unit.

    `problem` says what looks wrong against the household's history; such a reading is
    never offered as certain.
    """
    shown = format_reading(reading, unit)
    if problem:
        question = f"We read *{shown}* on your meter, but {problem}."
    elif certain:
        question = f"We read *{shown}* on your meter."
    else:
        question = (
            f"We are not completely sure, but we think your meter shows *{shown}*. "
            "Please compare it carefully with the display."
        )
    return (
        f"{question}\nYour photo: {photo_link}\n"
        "Is this reading right? Reply YES to submit it, or type the number your meter shows. "
        "Reply NO to send a new photo."
    )


def reading_confirmed(reading: str, unit: str) -> str:
    return (
        f"Thank you! Your reading of {format_reading(reading, unit)} is confirmed "
        "and has been sent for billing."
    )


def reading_rejected() -> str:
    return (
        "No problem, we have discarded that reading. "
        f"Please send a new photo of your meter. {PHOTO_TIPS}"
    )


def confirmation_expired(reading: str, unit: str) -> str:
    return (
        f"We did not hear back about the reading {format_reading(reading, unit)}, so we have not "
        "used it. Send a new photo of your meter whenever you are ready."
    )


def photo_unreadable(reason: str | None) -> str:
    explanation = _UNREADABLE_REASONS.get(
        reason or "", "We could not read the meter in that photo."
    )
    return (
        f"Sorry, {explanation[0].lower()}{explanation[1:]} {PHOTO_TIPS} Then send us the new photo."
    )


# What to send instead, by why the photo was refused (the media adapter's permanent errors).
_REFUSED_PHOTOS = {
    "MediaTooLarge": (
        "Sorry, that photo is too large for us (over 5 MB). Please send a normal photo of "
        "your meter's display taken with your phone's camera, not an HD photo or a document."
    ),
    "MediaNotAnImage": (
        "Sorry, we could not open that file as a photo. Please send a photo (JPEG or PNG) of "
        "your meter's display taken with your phone's camera, not a document or a link."
    ),
    "UntrustedMediaUrl": (
        "Sorry, we could not fetch that photo from WhatsApp. Please take a new photo of your "
        "meter's display and send it straight from your phone's camera."
    ),
}


def photo_refused(reason: str | None) -> str:
    """The reply to a photo we will never be able to use as sent: what to send instead."""
    return _REFUSED_PHOTOS.get(reason or "", _REFUSED_PHOTOS["MediaNotAnImage"])


def processing_failed() -> str:
    return (
        "Sorry, something went wrong on our side while handling your meter photo. "
        "Your reading has not been submitted; please send the photo again in a few minutes."
    )


def status_nothing_waiting(last_confirmed: str | None) -> str:
    last = f" Your last confirmed reading: {last_confirmed}." if last_confirmed else ""
    return (
        f"Nothing is waiting for you.{last} "
        "To submit a reading, send us a clear photo of your meter's display."
    )


def status_reading_photo() -> str:
    return "We're reading the photo you sent. We will send you the reading in a moment."


def status_question_waiting(reading: str, unit: str) -> str:
    return (
        f"We are waiting for your answer about the reading *{format_reading(reading, unit)}*. "
        "Reply YES if it is right, or type the number your meter shows."
    )


def history(lines: list[str]) -> str:
    """HISTORY: the last confirmed readings, newest first, one a line."""
    if not lines:
        return "You have no confirmed readings yet. Send us a photo of your meter to start."
    return "Your last confirmed readings:\n" + "\n".join(lines)


def history_line(day: str, reading: str, unit: str, typed: bool) -> str:
    return f"{day}: {format_reading(reading, unit)}" + (" (typed by you)" if typed else "")


def compose(
    kind: str, *, reading: str | None = None, unit: str = "", reason: str | None = None
) -> str:
    """The text for a message the state machine asks to send, by its kind."""
    if kind == "reading_confirmed":
        return reading_confirmed(reading or "", unit)
    if kind == "reading_confirmed_kept_safe":
        return reading_confirmed_kept_safe(reading or "", unit)
    if kind == "reading_rejected":
        return reading_rejected()
    if kind == "confirmation_expired":
        return confirmation_expired(reading or "", unit)
    if kind == "photo_unreadable":
        return photo_unreadable(reason)
    if kind == "photo_refused":
        return photo_refused(reason)
    if kind == "processing_failed":
        return processing_failed()
    raise ValueError(f"unknown message kind {kind!r}")


def reading_confirmed_kept_safe(reading: str, unit: str) -> str:
    """The thank-you when billing does not have the reading yet (broker down or refusing).

    It must stay true in every such case: the reading is confirmed and kept in our outbox,
    and it reaches billing without the household doing anything more.
    """
    return (
        f"Thank you! Your reading of {format_reading(reading, unit)} is confirmed and kept "
        "safe with us. There is nothing more you need to do."
    )
