"""`meter-reading serve`: the local pipeline over HTTP, as Twilio and a developer call it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from conftest import AMQP_URL, BillingQueue
from faults import error_response
from twilio.request_validator import RequestValidator
from twilio_client import ServedCommand, Twilio

from meter_reading.domain import messages
from meter_reading.local.aws_hooks import current_invocation
from meter_reading.local.runtime import LocalPipeline
from meter_reading.local.sample_photo import render_meter_photo
from meter_reading.local.server import WebhookServer

HOUSEHOLD = "whatsapp:+27825550111"


@pytest.fixture
def served(start_pipeline: Any) -> Iterator[tuple[LocalPipeline, Twilio]]:
    pipeline: LocalPipeline = start_pipeline()
    # The public URL is what a tunnel would give; the server listens locally.
    public_url = "https://example-tunnel.invalid/webhook"
    with WebhookServer(pipeline, port=0, public_url=public_url, echo=print) as server:
        yield pipeline, Twilio(server.local_url, public_url, pipeline.auth_token)


def test_a_photo_and_a_yes_over_http_confirm_the_reading(
    served: tuple[LocalPipeline, Twilio], billing_queue: BillingQueue
) -> None:
    _pipeline, twilio = served
    photo = twilio.form(HOUSEHOLD, media_url=twilio.upload(render_meter_photo("04521.7")))
    answer = twilio.post(photo)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/xml")
    assert messages.PHOTO_RECEIVED in answer.text

    [prompt] = twilio.wait_for_messages(HOUSEHOLD, 1)
    assert prompt["to"] == HOUSEHOLD and "*04521.7 kWh*" in prompt["body"] and prompt["time"]
    [reading] = twilio.get("/api/readings", sender=HOUSEHOLD)
    assert reading["status"] == "AWAITING_CONFIRMATION" and reading["reading"] == "04521.7"

    assert twilio.post(twilio.form(HOUSEHOLD, "YES")).status_code == 200
    received = twilio.wait_for_messages(HOUSEHOLD, 2)
    assert received[-1]["body"] == messages.reading_confirmed("04521.7", "kWh")

    [reading] = twilio.get("/api/readings", sender=HOUSEHOLD)
    assert {k: reading[k] for k in ("reading_id", "status", "reading", "unit", "source")} == {
        "reading_id": photo["MessageSid"],
        "status": "CONFIRMED",
        "reading": "04521.7",
        "unit": "kWh",
        "source": "ocr",
    }
    assert reading["created_at"]
    assert twilio.get("/api/readings", sender="whatsapp:+27820000000") == []

    deadline = time.monotonic() + 60
    while (executions := twilio.get("/api/executions"))[0]["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    [execution] = executions
    assert execution["name"] == photo["MessageSid"] and execution["status"] == "SUCCEEDED"
    assert execution["start_date"] <= execution["stop_date"]
    history = twilio.get(f"/api/executions/{photo['MessageSid']}/history")
    assert history[0]["type"] == "ExecutionStarted"
    assert history[-1]["type"] == "ExecutionSucceeded"
    # Executions carry ids: the household's number is not in the execution history.
    assert HOUSEHOLD.removeprefix("whatsapp:") not in str(history)
    assert len(billing_queue.messages()) == 1


def test_bad_signatures_are_refused_and_a_handler_exception_is_a_502(
    served: tuple[LocalPipeline, Twilio],
) -> None:
    pipeline, twilio = served
    form = twilio.form(HOUSEHOLD, "YES")
    assert twilio.post(form, signature="bm90IGEgc2lnbmF0dXJl").status_code == 403
    # Signed for another URL than the public one Twilio calls.
    other = RequestValidator(twilio.auth_token).compute_signature("http://127.0.0.1/webhook", form)
    assert twilio.post(form, signature=other).status_code == 403
    broken = twilio.form(HOUSEHOLD, "YES") | {"NumMedia": "many"}
    assert twilio.post(broken).status_code == 400  # malformed: refused, never a 5xx

    def dynamodb_down(**_: Any) -> Any:
        invocation = current_invocation()
        if invocation is not None and invocation.function == "ReceiveFunction":
            return error_response("InternalServerError", 500)
        return None

    # DynamoDB failing under the webhook: the handler raises, as API Gateway answers it.
    restore = pipeline.intercept("before-call.dynamodb", dynamodb_down)
    try:
        assert twilio.post(twilio.form(HOUSEHOLD, "YES")).status_code == 502
    finally:
        restore()
    assert twilio.get("/api/executions") == []
    response = requests.get(f"{twilio.base_url}/api/executions/MMnone/history", timeout=10)
    assert response.status_code == 404


def test_the_command_serves_until_ctrl_c_and_prints_each_turn(rabbitmq: str) -> None:
    with ServedCommand("serve-test-token", rabbitmq) as served:
        reply = served.twilio.post(served.twilio.form(HOUSEHOLD, "HISTORY"))
        assert reply.status_code == 200 and "no confirmed readings" in reply.text
    printed = served.printed
    assert served.returncode == 0, printed
    assert "whatsapp:+27*****0111 > HISTORY" in printed  # masked
    assert "whatsapp:+27*****0111 < You have no confirmed readings yet" in printed
    assert HOUSEHOLD not in printed
    assert "Stopping." in printed
    assert AMQP_URL.split("@")[1] in printed
