"""One transient AWS error in each Task state that touches DynamoDB: the reading still completes.

Lambda reports a DynamoDB throttle by its error code (ProvisionedThroughputExceededException,
ThrottlingException, ...), never as ClientError: the state machine must retry on those names.
Each fault is a real botocore error response injected into the first DynamoDB call the state
makes (tests/faults.py); the execution history must show that state failing once, then
succeeding, and the household and billing must see what they see without faults.
"""

from __future__ import annotations

from itertools import cycle
from typing import Any

from conftest import BillingQueue
from faults import Fault, Faults, task_states

from meter_reading.domain import messages
from meter_reading.local.runtime import LocalPipeline, StateRun
from meter_reading.local.sample_photo import render_blank_photo, render_meter_photo

# What DynamoDB answers when it is busy or briefly broken, with its HTTP status.
TRANSIENT = [
    ("ProvisionedThroughputExceededException", 400),
    ("ThrottlingException", 400),
    ("RequestLimitExceeded", 400),
    ("InternalServerError", 500),
    ("TransactionConflictException", 400),
]
A, B, C = "whatsapp:+27830000001", "whatsapp:+27830000002", "whatsapp:+27830000003"
D, E, F = "whatsapp:+27830000004", "whatsapp:+27830000005", "whatsapp:+27830000006"
G, H = "whatsapp:+27830000007", "whatsapp:+27830000008"


class Plan:
    def __init__(self, pipeline: LocalPipeline) -> None:
        self.faults = Faults(pipeline)
        self.codes = cycle(TRANSIENT)
        self.transient: list[Fault] = []

    def once(self, reading_id: str, *states: str) -> None:
        for state in states:
            code, status = next(self.codes)
            self.transient.append(
                self.faults.add(Fault(reading_id, state, code, status=status, times=1))
            )

    def always(self, reading_id: str, state: str, code: str = "AccessDeniedException") -> None:
        self.faults.add(Fault(reading_id, state, code, times=None))


def _runs(pipeline: LocalPipeline, reading_id: str) -> dict[str, StateRun]:
    return {run.name: run for run in pipeline.state_runs(reading_id)}


def _assert_each_retried_once(pipeline: LocalPipeline, plan: Plan) -> None:
    for fault in plan.transient:
        assert fault.injected == 1, f"{fault.state} never made the call the fault waits for"
        run = _runs(pipeline, fault.reading_id)[fault.state]
        assert (run.status, run.detail) == ("SUCCEEDED", f"1 failed attempt(s): {fault.code}"), (
            fault.state,
            run,
        )


def test_one_transient_dynamodb_error_in_each_step_and_every_reading_completes(
    start_pipeline: Any, billing_queue: BillingQueue
) -> None:
    pipeline: LocalPipeline = start_pipeline()
    plan = Plan(pipeline)

    # Each household's photo, with its faults planned before the webhook starts it.
    forms = {
        household: pipeline.photo_webhook(household, render_meter_photo(reading))
        for household, reading in ((A, "03662.0"), (B, "04120.5"), (C, "01234.5"), (G, "05555.5"))
    }
    forms[F] = pipeline.photo_webhook(F, render_meter_photo("07777.7"))
    forms[D] = pipeline.photo_webhook(D, render_blank_photo())
    forms[E] = pipeline.photo_webhook(E, render_meter_photo("03662.0"))
    forms[E]["MediaUrl0"] = "http://198.51.100.7/meter.jpg"  # not Twilio: refused
    ids = {household: form["MessageSid"] for household, form in forms.items()}

    # YES: every step of the way to billing.
    plan.once(
        ids[A],
        "Fetch photo from Twilio",
        "Start text detection",
        "Check against household's history",
        "Save raw reading",
        "Ask user to confirm",
        "Mark reading confirmed",
        "Publish to billing",
        "Thank user",
    )
    # NO, and the Lambda service itself throttling one invocation.
    plan.faults.add(
        Fault(ids[B], "Check against household's history", "TooManyRequestsException",
              service="lambda", status=429)
    )  # fmt: skip
    plan.once(ids[B], "Mark reading rejected", "Ask for a new photo")
    plan.once(ids[C], "Mark reading superseded")
    plan.once(ids[D], "Record unreadable photo", "Tell user photo is unreadable")
    plan.once(ids[E], "Mark photo refused", "Tell user the photo was refused")
    # A step failing for good: the failure path itself meets transient errors.
    plan.always(ids[F], "Check against household's history")
    plan.once(ids[F], "Record failure", "Apologise to user")
    # Publishing failing for good: the outbox keeps it, through a transient error.
    plan.always(ids[G], "Publish to billing")
    plan.once(ids[G], "Keep in outbox")

    for form in forms.values():
        assert pipeline.deliver_webhook(form).reply_text == messages.PHOTO_RECEIVED
    for household in (A, B, C, G):
        assert pipeline.wait_for_question(household, ids[household]), household
    newer = pipeline.photo_webhook(C, render_meter_photo("01240.0"))
    assert pipeline.deliver_webhook(newer).reply_text == messages.PHOTO_RECEIVED
    assert pipeline.wait_for_question(C, newer["MessageSid"])
    for household, answer in ((A, "YES"), (B, "no"), (C, "YES"), (G, "YES")):
        assert pipeline.send_text(household, answer).status_code == 200

    ended = {household: pipeline.wait_until_finished(ids[household]) for household in ids}
    ended[C + " newer"] = pipeline.wait_until_finished(newer["MessageSid"])
    assert {who: e["status"] for who, e in ended.items()} == {
        A: "SUCCEEDED", B: "SUCCEEDED", C: "SUCCEEDED", D: "SUCCEEDED", E: "SUCCEEDED",
        F: "FAILED", G: "SUCCEEDED", C + " newer": "SUCCEEDED",
    }  # fmt: skip
    assert ended[F]["error"] == "AccessDeniedException"
    _assert_each_retried_once(pipeline, plan)
    lambda_throttled = _runs(pipeline, ids[B])["Check against household's history"]
    assert lambda_throttled.detail == "1 failed attempt(s): Lambda.TooManyRequestsException"

    statuses = {who: (pipeline.reading(ids[who]) or {}).get("status") for who in ids}
    assert statuses == {
        A: "CONFIRMED", B: "REJECTED", C: "SUPERSEDED", D: "UNREADABLE", E: "REFUSED",
        F: "FAILED", G: "CONFIRMED",
    }  # fmt: skip
    assert (pipeline.reading(newer["MessageSid"]) or {}).get("status") == "CONFIRMED"
    last = {who: pipeline.twilio.messages_to(who)[-1].body for who in ids}
    assert last[A].startswith("Thank you!") and "sent for billing" in last[A]
    assert last[B] == messages.reading_rejected()
    assert last[C].startswith("Thank you!")
    assert last[D].startswith("Sorry, ") and messages.PHOTO_TIPS in last[D]
    assert last[E] == messages.photo_refused("UntrustedMediaUrl")
    assert last[F] == messages.processing_failed()
    assert "kept safe" in last[G]
    billed = sorted(properties.message_id for properties, _ in billing_queue.messages())
    assert billed == sorted([ids[A], newer["MessageSid"]])
    assert {row["message_id"]: row["status"] for row in pipeline.outbox()}[ids[G]] == "PENDING"
    print(f"\ntransient faults: {len(plan.transient) + 1} injected, each retried once")


def test_one_transient_dynamodb_error_when_the_question_expires(start_pipeline: Any) -> None:
    pipeline: LocalPipeline = start_pipeline(confirmation_timeout_seconds=3)
    plan = Plan(pipeline)
    form = pipeline.photo_webhook(H, render_meter_photo("03662.0"))
    plan.once(form["MessageSid"], "Mark reading expired", "Tell user the question expired")

    pipeline.deliver_webhook(form)

    assert pipeline.wait_until_finished(form["MessageSid"])["status"] == "SUCCEEDED"
    _assert_each_retried_once(pipeline, plan)
    item = pipeline.reading(form["MessageSid"])
    assert item is not None and item["status"] == "EXPIRED"
    assert pipeline.twilio.messages_to(H)[-1].body == messages.confirmation_expired(
        item["reading_text"], "kWh"
    )


def test_every_task_state_that_touches_dynamodb_is_covered() -> None:
    """The two tests above inject into each of these; a new DynamoDB step must join them."""
    not_dynamodb = {"Extract reading"}
    covered = {
        "Fetch photo from Twilio", "Start text detection", "Check against household's history",
        "Save raw reading",
        "Ask user to confirm", "Mark reading confirmed", "Publish to billing", "Thank user",
        "Mark reading rejected", "Ask for a new photo", "Mark reading superseded",
        "Record unreadable photo", "Tell user photo is unreadable", "Mark photo refused",
        "Tell user the photo was refused", "Record failure", "Apologise to user",
        "Keep in outbox", "Mark reading expired", "Tell user the question expired",
    }  # fmt: skip
    assert {state.name for state in task_states()} - not_dynamodb == covered
