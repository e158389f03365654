"""What each ending costs in state transitions: the `*StateEntered` events of a real execution's
history (Step Functions Standard bills each state entered). No polling: text detection is one
state, resumed by Textract's completion notification."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conftest import BillingQueue

from meter_reading.local.runtime import LocalPipeline
from meter_reading.local.sample_photo import render_blank_photo, render_meter_photo

CONFIRMED = [
    "Fetch photo from Twilio",
    "Start text detection",
    "Extract reading",
    "Reading found?",
    "Check against household's history",
    "Save raw reading",
    "Ask user to confirm",
    "Did the user confirm?",
    "Mark reading confirmed",
    "Publish to billing",
    "Thank user",
    "Reading confirmed",
]
# The path every read photo takes up to the question.
ASKED = CONFIRMED[: CONFIRMED.index("Ask user to confirm") + 1]
REJECTED = [
    *ASKED,
    "Did the user confirm?",
    "Mark reading rejected",
    "Ask for a new photo",
    "Reading rejected by user",
]
EXPIRED = [*ASKED, "Mark reading expired", "Tell user the question expired", "No answer in time"]
UNREADABLE = [
    *CONFIRMED[: CONFIRMED.index("Reading found?") + 1],
    "Record unreadable photo",
    "Tell user photo is unreadable",
    "Photo could not be read",
]


def states_entered(pipeline: LocalPipeline, reading_id: str) -> list[str]:
    return [
        event["stateEnteredEventDetails"]["name"]
        for event in pipeline.history(reading_id)
        if event["type"].endswith("StateEntered")
    ]


def _ending(pipeline: LocalPipeline, household: str, photo: bytes, answer: str | None) -> list[str]:
    reading_id, _ack = pipeline.send_photo(household, photo)
    if answer is not None:
        assert pipeline.wait_for_question(household, reading_id)
        pipeline.send_text(household, answer)
    assert pipeline.wait_until_finished(reading_id)["status"] == "SUCCEEDED"
    return states_entered(pipeline, reading_id)


def test_a_confirmed_reading_costs_twelve_state_transitions(
    start_pipeline: Callable[..., LocalPipeline], billing_queue: BillingQueue
) -> None:
    pipeline = start_pipeline()
    entered = {
        "confirmed": _ending(
            pipeline, "whatsapp:+27830000001", render_meter_photo("03662.0"), "YES"
        ),
        "rejected": _ending(pipeline, "whatsapp:+27830000002", render_meter_photo("03662.0"), "NO"),
        "unreadable": _ending(pipeline, "whatsapp:+27830000003", render_blank_photo(), None),
    }
    assert entered["confirmed"] == CONFIRMED
    assert len(entered["confirmed"]) == 12  # the bar: at most 12
    assert entered["rejected"] == REJECTED and len(REJECTED) == 11
    assert entered["unreadable"] == UNREADABLE and len(UNREADABLE) == 7
    print("\nstate transitions: " + ", ".join(f"{k} {len(v)}" for k, v in entered.items()))


def test_an_expired_question_costs_ten_state_transitions(
    start_pipeline: Callable[..., Any],
) -> None:
    pipeline: LocalPipeline = start_pipeline(confirmation_timeout_seconds=2)
    reading_id, _ack = pipeline.send_photo("whatsapp:+27830000004", render_meter_photo("03662.0"))
    assert pipeline.wait_until_finished(reading_id)["status"] == "SUCCEEDED"
    entered = states_entered(pipeline, reading_id)
    assert entered == EXPIRED and len(EXPIRED) == 10
    print(f"\nstate transitions: expired {len(entered)}")
