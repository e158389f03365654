"""The whole pipeline, end to end: real ASL on moto, our handlers, offline OCR, real RabbitMQ."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from conftest import UNREACHABLE_AMQP_URL, BillingQueue, LabelledPhoto

from meter_reading.domain import messages
from meter_reading.local.runtime import LocalPipeline
from meter_reading.local.sample_photo import render_blank_photo, render_meter_photo

HOUSEHOLD = "whatsapp:+27821234567"


def _digits(reading: str) -> str:
    return reading.replace(".", "").lstrip("0")


def _well_read_electricity_photo(
    photos: list[LabelledPhoto], detector: Any
) -> tuple[LabelledPhoto, str]:
    """A real photo that `meter-reading read` reads right, with that reading (offered as
    sure or not: the household is asked either way).

    This test is about the flow around the extraction; accuracy is the benchmark's job.
    """
    from meter_reading.local.photo_reader import read_photo

    for photo in photos:
        if photo.meter_type != "electricity-lcd":
            continue
        result = read_photo(photo.path, detector)
        right = _digits(result.reading or "") == photo.reading_digits.lstrip("0")
        if result.status != "unreadable" and right:
            return photo, result.reading or ""
    raise AssertionError("no electricity photo in ../shared is read right")


def _ask_and_answer(pipeline: LocalPipeline, photo: bytes, answer: str | None) -> str:
    reading_id, ack = pipeline.send_photo(HOUSEHOLD, photo)
    assert ack.status_code == 200
    assert ack.reply_text == messages.PHOTO_RECEIVED
    assert pipeline.wait_for_question(HOUSEHOLD, reading_id), pipeline.describe(reading_id)
    if answer is not None:
        reply = pipeline.send_text(HOUSEHOLD, answer)
        assert reply.status_code == 200
        assert reply.reply_text == ""  # the state machine answers, once it has acted
    return reading_id


def test_yes_confirms_the_reading_and_publishes_it_once(
    pipeline: LocalPipeline,
    billing_queue: BillingQueue,
    meter_photos: list[LabelledPhoto],
    detector: Any,
) -> None:
    photo, offline_reading = _well_read_electricity_photo(meter_photos, detector)
    reading_id = _ask_and_answer(pipeline, photo.path.read_bytes(), "YES")

    execution = pipeline.wait_until_finished(reading_id)
    assert execution["status"] == "SUCCEEDED"

    item = pipeline.reading(reading_id)
    assert item is not None
    assert item["status"] == "CONFIRMED" and item["confirmed"] is True
    assert _digits(item["reading_text"]) == photo.reading_digits.lstrip("0")
    # Through Textract's API shape and the OCR Lambda, the same extraction as the CLI's.
    assert item["reading_text"] == offline_reading
    assert isinstance(item["reading"], Decimal)
    assert item["sender"] == HOUSEHOLD
    assert item["s3_key"] == f"photos/{reading_id}.jpg"

    published = billing_queue.messages()
    assert len(published) == 1
    properties, body = published[0]
    assert properties.message_id == reading_id
    assert properties.content_type == "application/json"
    assert properties.delivery_mode == 2
    message = json.loads(body)
    assert message["schema"] == "meter-reading.confirmed/v1"
    assert Decimal(message["reading"]) == item["reading"]
    assert message["sender"] == HOUSEHOLD

    conversation = [m.body for m in pipeline.twilio.messages_to(HOUSEHOLD)]
    assert len(conversation) == 2
    assert f"*{item['reading_text']} kWh*" in conversation[0]
    assert "Reply YES" in conversation[0]
    assert "http" in conversation[0]  # the link to the photo
    assert conversation[1] == messages.reading_confirmed(item["reading_text"], "kWh")
    # The outbox row is the record that it went: a retried step will not publish it again.
    assert [(e["message_id"], e["status"]) for e in pipeline.outbox()] == [(reading_id, "SENT")]


def test_no_rejects_the_reading_and_asks_for_a_new_photo(
    pipeline: LocalPipeline, billing_queue: BillingQueue
) -> None:
    reading_id = _ask_and_answer(pipeline, render_meter_photo("03662.0"), "no")

    assert pipeline.wait_until_finished(reading_id)["status"] == "SUCCEEDED"
    item = pipeline.reading(reading_id)
    assert item is not None and item["status"] == "REJECTED" and item["confirmed"] is False
    assert billing_queue.messages() == []
    last = pipeline.twilio.messages_to(HOUSEHOLD)[-1].body
    assert last == messages.reading_rejected()


def test_unreadable_photo_gets_a_polite_reply_with_tips(pipeline: LocalPipeline) -> None:
    reading_id, ack = pipeline.send_photo(HOUSEHOLD, render_blank_photo())
    assert ack.status_code == 200

    assert pipeline.wait_until_finished(reading_id)["status"] == "SUCCEEDED"
    sent = pipeline.twilio.messages_to(HOUSEHOLD)
    assert len(sent) == 1
    assert sent[0].body.startswith("Sorry, ")
    assert messages.PHOTO_TIPS in sent[0].body
    item = pipeline.reading(reading_id)
    assert item is not None and item["status"] == "UNREADABLE" and item["sender"] == HOUSEHOLD
    assert [run.name for run in pipeline.state_runs(reading_id)][-1] == "Photo could not be read"


def test_no_answer_in_time_expires_the_reading(
    start_pipeline: Any, billing_queue: BillingQueue
) -> None:
    pipeline: LocalPipeline = start_pipeline(confirmation_timeout_seconds=2)
    reading_id = _ask_and_answer(pipeline, render_meter_photo("03662.0"), answer=None)

    assert pipeline.wait_until_finished(reading_id)["status"] == "SUCCEEDED"
    item = pipeline.reading(reading_id)
    assert item is not None and item["status"] == "EXPIRED"
    assert pipeline.twilio.messages_to(HOUSEHOLD)[-1].body == messages.confirmation_expired(
        item["reading_text"], "kWh"
    )
    assert billing_queue.messages() == []
    # A YES after the question expired resumes nothing and is told so.
    late = pipeline.send_text(HOUSEHOLD, "YES")
    assert late.reply_text == messages.NOTHING_PENDING
    runs = {run.name: run.status for run in pipeline.state_runs(reading_id)}
    assert runs["Ask user to confirm"] == "TIMED_OUT"


def test_broker_down_keeps_the_reading_in_the_outbox_until_retry_delivers_it_once(
    start_pipeline: Any, billing_queue: BillingQueue
) -> None:
    pipeline: LocalPipeline = start_pipeline(amqp_url=UNREACHABLE_AMQP_URL)
    reading_id = _ask_and_answer(pipeline, render_meter_photo("03662.0"), "YES")

    assert pipeline.wait_until_finished(reading_id)["status"] == "SUCCEEDED"
    # The user is thanked all the same: the reading is safe in the outbox.
    assert pipeline.twilio.messages_to(HOUSEHOLD)[-1].body.startswith("Thank you!")
    [entry] = pipeline.outbox()
    assert entry["message_id"] == reading_id and entry["status"] == "PENDING"
    runs = {run.name: run for run in pipeline.state_runs(reading_id)}
    assert runs["Publish to billing"].status == "CAUGHT"
    assert "BrokerUnavailable" in runs["Publish to billing"].detail
    assert billing_queue.messages() == []

    # Still down: the retry keeps it.
    assert pipeline.run_outbox_retry()["sent"] == 0
    assert pipeline.outbox()[0]["status"] == "PENDING"

    pipeline.set_amqp_url("amqp://guest:guest@localhost:5672/")
    assert pipeline.run_outbox_retry()["sent"] == 1
    assert pipeline.outbox()[0]["status"] == "SENT"
    assert pipeline.run_outbox_retry()["sent"] == 0  # never twice

    published = billing_queue.messages()
    assert len(published) == 1
    assert published[0][0].message_id == reading_id
    assert json.loads(published[0][1])["reading_id"] == reading_id


def test_the_same_webhook_delivered_twice_starts_one_execution(pipeline: LocalPipeline) -> None:
    form = pipeline.photo_webhook(HOUSEHOLD, render_meter_photo("03662.0"))
    first = pipeline.deliver_webhook(form)
    second = pipeline.deliver_webhook(form)

    assert first.status_code == second.status_code == 200
    assert second.reply_text == messages.PHOTO_RECEIVED
    assert [e["name"] for e in pipeline.executions()] == [form["MessageSid"]]


def test_a_bad_signature_is_refused_and_starts_nothing(pipeline: LocalPipeline) -> None:
    form = pipeline.photo_webhook(HOUSEHOLD, render_meter_photo("03662.0"))
    forged = pipeline.deliver_webhook(form, signature="bm90IGEgc2lnbmF0dXJl")
    unsigned = pipeline.deliver_webhook(form, signature="")

    assert forged.status_code == 403 and unsigned.status_code == 403
    assert pipeline.executions() == []


def test_a_tampered_form_fails_the_signature(pipeline: LocalPipeline) -> None:
    form = pipeline.text_webhook(HOUSEHOLD, "YES")
    from twilio.request_validator import RequestValidator

    from meter_reading.local.runtime import AUTH_TOKEN, WEBHOOK_HOST, WEBHOOK_STAGE_PATH

    signature = RequestValidator(AUTH_TOKEN).compute_signature(
        f"https://{WEBHOOK_HOST}{WEBHOOK_STAGE_PATH}", form
    )
    form["From"] = "whatsapp:+27829999999"
    assert pipeline.deliver_webhook(form, signature=signature).status_code == 403


def test_yes_with_nothing_pending_gets_help_and_no_error(pipeline: LocalPipeline) -> None:
    reply = pipeline.send_text(HOUSEHOLD, "YES")
    assert reply.status_code == 200
    assert reply.reply_text == messages.NOTHING_PENDING
    assert pipeline.executions() == []


def test_any_other_text_gets_the_help_text(pipeline: LocalPipeline) -> None:
    reply = pipeline.send_text(HOUSEHOLD, "hello, how does this work?")
    assert reply.status_code == 200 and reply.reply_text == messages.HELP


def test_media_from_outside_twilio_is_refused_visibly_and_the_user_is_told(
    pipeline: LocalPipeline,
) -> None:
    form = pipeline.photo_webhook(HOUSEHOLD, render_meter_photo("03662.0"))
    form["MediaUrl0"] = "https://attacker.example.com/meter.jpg"
    pipeline.deliver_webhook(form)
    reading_id = form["MessageSid"]

    execution = pipeline.wait_until_finished(reading_id)
    assert execution["status"] == "SUCCEEDED"
    runs = pipeline.state_runs(reading_id)
    assert [run.name for run in runs][-1] == "Photo refused"
    assert next(run for run in runs if run.name == "Fetch photo from Twilio").detail == (
        "1 failed attempt(s): UntrustedMediaUrl"  # never retried
    )
    item = pipeline.reading(reading_id)
    assert item is not None and item["status"] == "REFUSED" and item["sender"] == HOUSEHOLD
    assert item["status_detail"].startswith("UntrustedMediaUrl: media host")
    assert pipeline.twilio.messages_to(HOUSEHOLD)[-1].body == messages.photo_refused(
        "UntrustedMediaUrl"
    )
