"""Fault injection through the whole pipeline: for every Task state, what a permanent failure
leaves behind; Twilio throttling or failing; Textract failing; webhooks duplicated and
reordered. (The broker down, refusing or mis-declared: tests/test_pipeline.py and
tests/test_outbox_pipeline.py.)

AWS fails as AWS would: a botocore hook answers the step's calls with AWS's error response
(tests/faults.py). Twilio fails as Twilio would: the local Twilio answers with its errors.
Everything else is real: the ASL on moto, our handlers, offline OCR, RabbitMQ.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders
from conftest import BillingQueue
from faults import Fault, Faults, task_states

from meter_reading.domain import messages
from meter_reading.local.runtime import LocalPipeline, WebhookResponse
from meter_reading.local.sample_photo import render_blank_photo, render_meter_photo

FAILED_TOLD = "FAILED, reading FAILED, household told"
KEPT = "SUCCEEDED, reading CONFIRMED and kept in the outbox, household thanked"
NOT_MESSAGED = "FAILED, reading keeps its status, household could not be told"
NOT_RECORDED = "FAILED, reading not marked, household told"
NOT_APOLOGISED = "FAILED, reading FAILED, household could not be told"
SUPERSEDED_QUIET = "FAILED, reading FAILED, household hears nothing about the old photo"


@dataclass
class Case:
    """A permanent failure in `state`, and what it must leave behind."""

    state: str
    promise: str
    photo: bytes = field(default_factory=lambda: render_meter_photo("03662.0"))
    answer: str | None = None  # what the household answers, once asked
    faults: list[tuple[str, str, str]] = field(default_factory=list)  # (state, service, code)
    twilio_refuses: str = ""  # "": never; "always"; "after question": once asked
    media_url: str | None = None
    supersede: bool = False  # a newer photo follows the question
    error: str = ""  # the execution's error
    reading_status: str = "FAILED"


def _always(state: str, code: str = "AccessDeniedException", service: str = "dynamodb") -> Case:
    return Case(state, FAILED_TOLD, faults=[(state, service, code)], error=code)


CASES = [
    _always("Fetch photo from Twilio", "ResourceNotFoundException"),
    _always("Start text detection", "UnsupportedDocumentException", "textract"),
    _always("Extract reading", "InvalidJobIdException", "textract"),
    _always("Check against household's history"),
    _always("Save raw reading", "ValidationException"),
    _always("Ask user to confirm"),
    Case(
        "Record unreadable photo",
        FAILED_TOLD,
        photo=render_blank_photo(),
        faults=[("Record unreadable photo", "dynamodb", "AccessDeniedException")],
        error="AccessDeniedException",
    ),
    Case(
        "Mark photo refused",
        FAILED_TOLD,
        media_url="https://evil.example.com/meter.jpg",
        faults=[("Mark photo refused", "dynamodb", "AccessDeniedException")],
        error="AccessDeniedException",
    ),
    Case(
        "Tell user the photo was refused",
        NOT_MESSAGED,
        media_url="https://evil.example.com/meter.jpg",
        twilio_refuses="always",
        error="WhatsAppRefused",
        reading_status="REFUSED",
    ),
    Case(
        "Tell user photo is unreadable",
        NOT_MESSAGED,
        photo=render_blank_photo(),
        twilio_refuses="always",
        error="WhatsAppRefused",
        reading_status="UNREADABLE",
    ),
    Case(
        "Mark reading confirmed",
        FAILED_TOLD,
        answer="YES",
        faults=[("Mark reading confirmed", "dynamodb", "AccessDeniedException")],
        error="AccessDeniedException",
    ),
    Case(
        "Publish to billing",
        KEPT,
        answer="YES",
        faults=[("Publish to billing", "dynamodb", "AccessDeniedException")],
        reading_status="CONFIRMED",
    ),
    Case(
        "Keep in outbox",
        FAILED_TOLD,
        answer="YES",
        faults=[
            ("Publish to billing", "dynamodb", "AccessDeniedException"),
            ("Keep in outbox", "dynamodb", "ValidationException"),
        ],
        error="ValidationException",
    ),
    Case(
        "Thank user",
        NOT_MESSAGED,
        answer="YES",
        twilio_refuses="after question",
        error="WhatsAppRefused",
        reading_status="CONFIRMED",
    ),
    Case(
        "Mark reading rejected",
        FAILED_TOLD,
        answer="no",
        faults=[("Mark reading rejected", "dynamodb", "AccessDeniedException")],
        error="AccessDeniedException",
    ),
    Case(
        "Ask for a new photo",
        NOT_MESSAGED,
        answer="no",
        twilio_refuses="after question",
        error="WhatsAppRefused",
        reading_status="REJECTED",
    ),
    Case(
        "Mark reading superseded",
        SUPERSEDED_QUIET,
        supersede=True,
        faults=[("Mark reading superseded", "dynamodb", "AccessDeniedException")],
        error="AccessDeniedException",
    ),
    Case(
        "Record failure",
        NOT_RECORDED,
        faults=[
            ("Check against household's history", "dynamodb", "AccessDeniedException"),
            ("Record failure", "dynamodb", "ValidationException"),
        ],
        error="AccessDeniedException",
        reading_status="RECEIVED",
    ),
    Case(
        "Apologise to user",
        NOT_APOLOGISED,
        faults=[("Check against household's history", "dynamodb", "AccessDeniedException")],
        twilio_refuses="always",
        error="AccessDeniedException",
    ),
]
EXPIRY_CASES = [
    Case(
        "Mark reading expired",
        FAILED_TOLD,
        faults=[("Mark reading expired", "dynamodb", "AccessDeniedException")],
        error="AccessDeniedException",
    ),
    Case(
        "Tell user the question expired",
        NOT_MESSAGED,
        twilio_refuses="after question",
        error="WhatsAppRefused",
        reading_status="EXPIRED",
    ),
]


def test_every_task_state_has_a_permanent_failure_case() -> None:
    assert sorted(case.state for case in CASES + EXPIRY_CASES) == sorted(
        state.name for state in task_states()
    )


def _household(index: int) -> str:
    return f"whatsapp:+2785{index:07d}"


def _play(pipeline: LocalPipeline, cases: list[Case]) -> dict[str, tuple[str, str]]:
    """Run every case at once, one household each; (household, reading id) by state."""
    faults = Faults(pipeline)
    started: dict[str, tuple[str, str]] = {}
    for index, case in enumerate(cases):
        household = _household(index + (100 if case in EXPIRY_CASES else 0))
        form = pipeline.photo_webhook(household, case.photo)
        if case.media_url:
            form["MediaUrl0"] = case.media_url
        for state, service, code in case.faults:
            faults.add(Fault(form["MessageSid"], state, code, service=service, times=None))
        if case.twilio_refuses == "always":
            pipeline.twilio.fail_sending(400, times=None, to=household)
        assert pipeline.deliver_webhook(form).reply_text == messages.PHOTO_RECEIVED
        started[case.state] = (household, form["MessageSid"])
    for case in cases:
        household, reading_id = started[case.state]
        if not (case.answer or case.supersede or case.twilio_refuses == "after question"):
            continue
        assert pipeline.wait_for_question(household, reading_id), case.state
        if case.twilio_refuses == "after question":
            pipeline.twilio.fail_sending(400, times=None, to=household)
        if case.answer:
            assert pipeline.send_text(household, case.answer).status_code == 200
        if case.supersede:
            newer = pipeline.photo_webhook(household, render_meter_photo("03670.0"))
            pipeline.deliver_webhook(newer)
            assert pipeline.wait_for_question(household, newer["MessageSid"])
            pipeline.send_text(household, "YES")  # the newer reading ends too
    return started


def _check(pipeline: LocalPipeline, case: Case, household: str, reading_id: str) -> str:
    execution = pipeline.wait_until_finished(reading_id)
    reading = pipeline.reading(reading_id) or {}
    told = [message.body for message in pipeline.twilio.messages_to(household)]
    expected_status = "SUCCEEDED" if case.promise == KEPT else "FAILED"
    assert execution["status"] == expected_status, (case.state, execution)
    if case.error:
        assert execution["error"] == case.error, (case.state, execution)
        assert case.error in execution["cause"]
    assert reading.get("status") == case.reading_status, (case.state, reading)
    assert reading.get("sender") == household, case.state  # every reading has its household
    if case.reading_status == "FAILED":
        assert str(reading.get("status_detail", "")).startswith(f"{case.error}:"), reading
    if case.promise in (FAILED_TOLD, NOT_RECORDED):
        assert told and told[-1] == messages.processing_failed(), (case.state, told)
    if case.promise == KEPT:
        assert told[-1] == messages.reading_confirmed_kept_safe(reading["reading_text"], "kWh")
        outbox = {row["message_id"]: row["status"] for row in pipeline.outbox()}
        assert outbox[reading_id] == "PENDING"
    if case.promise in (NOT_MESSAGED, NOT_APOLOGISED):
        assert messages.processing_failed() not in told, case.state
    if case.promise == SUPERSEDED_QUIET:
        assert messages.processing_failed() not in told, case.state
    last_state = pipeline.state_runs(reading_id)[-1]
    return f"{case.state:36} -> {last_state.name}: {case.promise}"


def test_a_permanent_failure_in_each_task_state_ends_visibly(
    start_pipeline: Any, billing_queue: BillingQueue
) -> None:
    pipeline: LocalPipeline = start_pipeline()
    started = _play(pipeline, CASES)
    lines = [_check(pipeline, case, *started[case.state]) for case in CASES]
    print("\npermanent faults, one per Task state:\n" + "\n".join(lines))


def test_a_permanent_failure_when_the_question_expires(start_pipeline: Any) -> None:
    pipeline: LocalPipeline = start_pipeline(confirmation_timeout_seconds=3)
    started = _play(pipeline, EXPIRY_CASES)
    lines = [_check(pipeline, case, *started[case.state]) for case in EXPIRY_CASES]
    print("\n" + "\n".join(lines))


# --------------------------------------------------------------------------- Twilio, Textract

HOUSEHOLD = "whatsapp:+27860000001"


def test_twilio_throttling_or_failing_once_is_retried_and_the_household_gets_every_message(
    pipeline: LocalPipeline, billing_queue: BillingQueue
) -> None:
    form = pipeline.photo_webhook(HOUSEHOLD, render_meter_photo("03662.0"))
    pipeline.twilio.fail_sending(429, times=1, to=HOUSEHOLD)  # the question
    pipeline.deliver_webhook(form)
    assert pipeline.wait_for_question(HOUSEHOLD, form["MessageSid"])
    pipeline.twilio.fail_sending(503, times=1, to=HOUSEHOLD)  # the thank-you
    pipeline.send_text(HOUSEHOLD, "YES")

    assert pipeline.wait_until_finished(form["MessageSid"])["status"] == "SUCCEEDED"
    told = [message.body for message in pipeline.twilio.messages_to(HOUSEHOLD)]
    assert len(told) == 2 and "Reply YES" in told[0] and told[1].startswith("Thank you!")
    runs = {run.name: run for run in pipeline.state_runs(form["MessageSid"])}
    assert runs["Ask user to confirm"].detail == "1 failed attempt(s): WhatsAppUnavailable"
    assert runs["Thank user"].detail == "1 failed attempt(s): WhatsAppUnavailable"
    assert len(billing_queue.messages()) == 1


def test_twilio_failing_for_good_ends_the_execution_visibly(pipeline: LocalPipeline) -> None:
    form = pipeline.photo_webhook(HOUSEHOLD, render_meter_photo("03662.0"))
    pipeline.twilio.fail_sending(500, times=None, to=HOUSEHOLD)
    pipeline.deliver_webhook(form)

    execution = pipeline.wait_until_finished(form["MessageSid"])
    assert (execution["status"], execution["error"]) == ("FAILED", "WhatsAppUnavailable")
    runs = {run.name: run for run in pipeline.state_runs(form["MessageSid"])}
    assert runs["Ask user to confirm"].detail == "4 failed attempt(s): WhatsAppUnavailable"
    reading = pipeline.reading(form["MessageSid"]) or {}
    assert reading.get("status") == "FAILED" and reading.get("sender") == HOUSEHOLD
    assert str(reading.get("status_detail")).startswith("WhatsAppUnavailable: Twilio answered")


def _textract_job_failed(jobs: dict[str, str]) -> Callable[..., Any]:
    """Textract's answer about a job it FAILED, to whoever asks why (the done function)."""

    def hook(context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        # What the local runtime stashed of the call's parameters (aws_hooks._stash_params).
        if context.get("meter_reading_local_params", {}).get("JobId") not in jobs:
            return None
        parsed = {
            "JobStatus": "FAILED",
            "StatusMessage": "Request has unsupported document format",
            "ResponseMetadata": {"HTTPStatusCode": 200, "RequestId": "textract-failed"},
        }
        return AWSResponse("https://textract.invalid", 200, HTTPHeaders(), None), parsed

    return hook


def _textract_announces_failure(reading_id: str, jobs: dict[str, str]) -> Callable[..., Any]:
    """Textract announcing the reading's job as FAILED on the topic (as SNS carries it)."""

    def hook(params: dict[str, Any], **_: Any) -> None:
        notice = json.loads(params["Message"])
        if notice.get("JobTag") == reading_id:
            jobs[notice["JobId"]] = reading_id
            params["Message"] = json.dumps({**notice, "Status": "FAILED"})

    return hook


def test_textract_failing_the_job_fails_the_reading_visibly(pipeline: LocalPipeline) -> None:
    form = pipeline.photo_webhook(HOUSEHOLD, render_meter_photo("03662.0"))
    jobs: dict[str, str] = {}
    pipeline.intercept(
        "before-parameter-build.sns.Publish", _textract_announces_failure(form["MessageSid"], jobs)
    )
    pipeline.intercept("before-call.textract.GetDocumentTextDetection", _textract_job_failed(jobs))
    pipeline.deliver_webhook(form)

    execution = pipeline.wait_until_finished(form["MessageSid"])
    assert (execution["status"], execution["error"]) == ("FAILED", "TextDetectionFailed")
    assert execution["cause"] == "Request has unsupported document format"
    runs = [run.name for run in pipeline.state_runs(form["MessageSid"])]
    assert runs[:2] == ["Fetch photo from Twilio", "Start text detection"]
    assert "Extract reading" not in runs
    reading = pipeline.reading(form["MessageSid"]) or {}
    assert reading.get("status") == "FAILED" and reading.get("sender") == HOUSEHOLD
    assert pipeline.twilio.messages_to(HOUSEHOLD)[-1].body == messages.processing_failed()


# --------------------------------------------------------------------------- webhooks


def _at_once(*calls: Callable[[], WebhookResponse]) -> list[WebhookResponse]:
    answers: list[WebhookResponse | None] = [None] * len(calls)
    gate = threading.Barrier(len(calls))

    def run(index: int) -> None:
        gate.wait()
        answers[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(answer is not None for answer in answers)
    return [answer for answer in answers if answer is not None]


def test_duplicated_webhooks_arriving_together_act_once(
    pipeline: LocalPipeline, billing_queue: BillingQueue
) -> None:
    photo = pipeline.photo_webhook(HOUSEHOLD, render_meter_photo("03662.0"))
    answers = _at_once(*[lambda: pipeline.deliver_webhook(photo)] * 3)
    assert [answer.reply_text for answer in answers] == [messages.PHOTO_RECEIVED] * 3
    assert [execution["name"] for execution in pipeline.executions()] == [photo["MessageSid"]]
    assert pipeline.wait_for_question(HOUSEHOLD, photo["MessageSid"])

    yes = pipeline.text_webhook(HOUSEHOLD, "YES")
    answers = _at_once(*[lambda: pipeline.deliver_webhook(yes)] * 3)
    assert [answer.status_code for answer in answers] == [200, 200, 200]

    assert pipeline.wait_until_finished(photo["MessageSid"])["status"] == "SUCCEEDED"
    assert len(billing_queue.messages()) == 1
    told = [message.body for message in pipeline.twilio.messages_to(HOUSEHOLD)]
    assert len(told) == 2 and told[1].startswith("Thank you!")


def test_an_answer_delivered_before_its_photo_confirms_nothing(
    pipeline: LocalPipeline, billing_queue: BillingQueue
) -> None:
    photo = pipeline.photo_webhook(HOUSEHOLD, render_meter_photo("03662.0"))
    early_yes = pipeline.text_webhook(HOUSEHOLD, "YES")

    assert pipeline.deliver_webhook(early_yes).reply_text == messages.NOTHING_PENDING
    pipeline.deliver_webhook(photo)
    assert pipeline.wait_for_question(HOUSEHOLD, photo["MessageSid"])
    # Twilio retrying the early YES now must not answer the question it never saw.
    assert pipeline.deliver_webhook(early_yes).reply_text == messages.NOTHING_PENDING
    assert pipeline.describe(photo["MessageSid"])["status"] == "RUNNING"

    pipeline.send_text(HOUSEHOLD, "YES")
    assert pipeline.wait_until_finished(photo["MessageSid"])["status"] == "SUCCEEDED"
    assert len(billing_queue.messages()) == 1


def test_two_photos_delivered_newest_first_end_with_one_question_and_one_reading(
    pipeline: LocalPipeline, billing_queue: BillingQueue
) -> None:
    older = pipeline.photo_webhook(HOUSEHOLD, render_meter_photo("03662.0"))
    newer = pipeline.photo_webhook(HOUSEHOLD, render_meter_photo("03670.0"))

    pipeline.deliver_webhook(newer)
    pipeline.deliver_webhook(older)  # delivered last: the webhook can only take it as newest
    assert pipeline.wait_for_question(HOUSEHOLD, older["MessageSid"])
    pipeline.send_text(HOUSEHOLD, "YES")

    ended = {
        form["MessageSid"]: pipeline.wait_until_finished(form["MessageSid"])["status"]
        for form in (older, newer)
    }
    assert set(ended.values()) == {"SUCCEEDED"}
    confirmed = pipeline.reading(older["MessageSid"]) or {}
    assert confirmed.get("status") == "CONFIRMED"
    assert (pipeline.reading(newer["MessageSid"]) or {}).get("status") == "SUPERSEDED"
    [(properties, _body)] = billing_queue.messages()
    assert properties.message_id == older["MessageSid"]
    # The other photo's question, if it was asked before the last delivery, is closed.
    questions = [m.body for m in pipeline.twilio.messages_to(HOUSEHOLD) if "Reply YES" in m.body]
    assert len(questions) <= 2 and f"*{confirmed['reading_text']} kWh*" in questions[-1]
