"""No phone number and no media URL in any execution's history, on every path.

GetExecutionHistory keeps each state's input and output, and each error's cause, for 90
days and shows them in the console. Executions carry the reading id (the photo's
MessageSid) only; each step looks up what it needs in DynamoDB, and error messages are
scrubbed before they leave a Lambda.
"""

from __future__ import annotations

import json
from typing import Any

from meter_reading.domain import messages
from meter_reading.local.runtime import LocalPipeline
from meter_reading.local.sample_photo import render_blank_photo, render_meter_photo

YES, NO, TYPED = "whatsapp:+27840000001", "whatsapp:+27840000002", "whatsapp:+27840000003"
UNREADABLE, SUPERSEDED = "whatsapp:+27840000004", "whatsapp:+27840000005"
FAILURE, REFUSED, EXPIRED = (
    "whatsapp:+27840000006",
    "whatsapp:+27840000007",
    "whatsapp:+27840000008",
)


def _leaks(pipeline: LocalPipeline, reading_id: str, secrets: list[str]) -> list[str]:
    """The history events that quote any of `secrets`."""
    return [
        f"{event['type']}: {secret}"
        for event in pipeline.history(reading_id)
        for secret in secrets
        if secret in json.dumps(event, default=str)
    ]


def _secrets(household: str, form: dict[str, str]) -> list[str]:
    number = household.removeprefix("whatsapp:+")
    media_path = form["MediaUrl0"].split("://", 1)[-1].split("/", 1)[-1]
    return [number, form["MediaUrl0"], media_path]


def test_no_phone_number_or_media_url_in_any_execution_history(start_pipeline: Any) -> None:
    pipeline: LocalPipeline = start_pipeline()
    forms = {
        YES: pipeline.photo_webhook(YES, render_meter_photo("03662.0")),
        NO: pipeline.photo_webhook(NO, render_meter_photo("04120.5")),
        TYPED: pipeline.photo_webhook(TYPED, render_meter_photo("01234.5")),
        UNREADABLE: pipeline.photo_webhook(UNREADABLE, render_blank_photo()),
        SUPERSEDED: pipeline.photo_webhook(SUPERSEDED, render_meter_photo("05555.5")),
        FAILURE: pipeline.photo_webhook(FAILURE, render_meter_photo("06666.6")),
        REFUSED: pipeline.photo_webhook(REFUSED, render_meter_photo("03662.0")),
    }
    # Twilio's own error text quotes the number it could not message.
    pipeline.twilio.fail_sending(400, times=None, to=FAILURE)
    forms[REFUSED]["MediaUrl0"] = "https://attacker.example.com/2010-04-01/+27840000007.jpg"
    for form in forms.values():
        assert pipeline.deliver_webhook(form).reply_text == messages.PHOTO_RECEIVED
    for household in (YES, NO, TYPED, SUPERSEDED):
        assert pipeline.wait_for_question(household, forms[household]["MessageSid"])
    newer = pipeline.photo_webhook(SUPERSEDED, render_meter_photo("05560.0"))
    pipeline.deliver_webhook(newer)
    assert pipeline.wait_for_question(SUPERSEDED, newer["MessageSid"])
    for household, answer in ((YES, "YES"), (NO, "no"), (TYPED, "NO 1234.6"), (SUPERSEDED, "ja")):
        pipeline.send_text(household, answer)

    outcomes = {}
    for household, form in [*forms.items(), (SUPERSEDED + " newer", newer)]:
        reading_id = form["MessageSid"]
        execution = pipeline.wait_until_finished(reading_id)
        reading = pipeline.reading(reading_id) or {}
        outcomes[household] = (execution["status"], reading.get("status"))
        assert reading.get("sender") == household.removesuffix(" newer")
        sender = household.removesuffix(" newer")
        assert _leaks(pipeline, reading_id, _secrets(sender, form)) == [], household
    assert outcomes == {
        YES: ("SUCCEEDED", "CONFIRMED"),
        NO: ("SUCCEEDED", "REJECTED"),
        TYPED: ("SUCCEEDED", "CONFIRMED"),
        UNREADABLE: ("SUCCEEDED", "UNREADABLE"),
        SUPERSEDED: ("SUCCEEDED", "SUPERSEDED"),
        SUPERSEDED + " newer": ("SUCCEEDED", "CONFIRMED"),
        FAILURE: ("FAILED", "FAILED"),
        REFUSED: ("SUCCEEDED", "REFUSED"),
    }
    failed = pipeline.describe(forms[FAILURE]["MessageSid"])
    assert failed["error"] == "WhatsAppRefused"  # the real cause, without Twilio's text
    assert "27840000006" not in json.dumps(failed, default=str)


def test_no_phone_number_or_media_url_when_the_question_expires(start_pipeline: Any) -> None:
    pipeline: LocalPipeline = start_pipeline(confirmation_timeout_seconds=2)
    form = pipeline.photo_webhook(EXPIRED, render_meter_photo("03662.0"))
    pipeline.deliver_webhook(form)

    assert pipeline.wait_until_finished(form["MessageSid"])["status"] == "SUCCEEDED"
    assert (pipeline.reading(form["MessageSid"]) or {}).get("status") == "EXPIRED"
    assert _leaks(pipeline, form["MessageSid"], _secrets(EXPIRED, form)) == []
