"""Publishing faults through the whole pipeline: what the household reads, what billing gets."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pika
import pytest
from conftest import AMQP_URL, BillingQueue

from meter_reading.adapters.broker import unrouted_name
from meter_reading.domain import messages
from meter_reading.local.runtime import LocalPipeline
from meter_reading.local.sample_photo import render_meter_photo

HOUSEHOLD = "whatsapp:+27821234567"


def _confirm_a_reading(pipeline: LocalPipeline) -> str:
    reading_id, _ = pipeline.send_photo(HOUSEHOLD, render_meter_photo("03662.0"))
    assert pipeline.wait_for_question(HOUSEHOLD, reading_id), pipeline.describe(reading_id)
    pipeline.send_text(HOUSEHOLD, "YES")
    assert pipeline.wait_until_finished(reading_id)["status"] == "SUCCEEDED"
    return reading_id


def _thank_you(pipeline: LocalPipeline, reading_id: str) -> str:
    item = pipeline.reading(reading_id)
    assert item is not None and item["status"] == "CONFIRMED"
    return item["reading_text"]  # type: ignore[no-any-return]


def test_a_publish_step_run_again_after_it_worked_sends_no_second_copy(
    pipeline: LocalPipeline, billing_queue: BillingQueue
) -> None:
    reading_id = _confirm_a_reading(pipeline)
    assert len(billing_queue.messages()) == 1

    # What Step Functions does when the step's response is lost: it runs the step again.
    assert pipeline.lambdas is not None
    result, error = pipeline.lambdas.invoke("PublishReadingFunction", {"reading_id": reading_id})

    assert error is None
    assert result == {"outcome": "published", "thank_you": "reading_confirmed"}
    assert billing_queue.messages() == []
    reading = _thank_you(pipeline, reading_id)
    assert pipeline.twilio.messages_to(HOUSEHOLD)[-1].body == messages.reading_confirmed(
        reading, "kWh"
    )


def test_a_refusing_broker_keeps_the_reading_dead_and_the_household_is_told_the_truth(
    start_pipeline: Any, billing_queue: BillingQueue
) -> None:
    channel = billing_queue.channel
    refusing = channel.queue_declare(
        "", exclusive=True, arguments={"x-max-length": 0, "x-overflow": "reject-publish"}
    ).method.queue
    channel.queue_bind(refusing, billing_queue.exchange, routing_key="meter.reading.#")
    channel.queue_unbind(billing_queue.queue, billing_queue.exchange, "meter.reading.#")
    pipeline: LocalPipeline = start_pipeline()

    reading_id = _confirm_a_reading(pipeline)

    reading = _thank_you(pipeline, reading_id)
    last = pipeline.twilio.messages_to(HOUSEHOLD)[-1].body
    assert last == messages.reading_confirmed_kept_safe(reading, "kWh")
    assert "sent for billing" not in last
    [row] = pipeline.outbox()
    assert row["message_id"] == reading_id and row["status"] == "DEAD"
    assert "nack" in row["last_error"]
    # Not retried blindly: the next drain leaves it for ops.
    assert pipeline.run_outbox_retry()["sent"] == 0
    assert pipeline.outbox()[0]["status"] == "DEAD"


@pytest.fixture
def mis_declared_exchange(rabbitmq: str) -> Iterator[str]:
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq))
    channel = connection.channel()
    name = f"meter-readings-test-{uuid.uuid4().hex[:8]}"
    channel.exchange_declare(name, exchange_type="direct", durable=True)
    yield name
    channel.exchange_delete(name)
    channel.exchange_delete(unrouted_name(name))
    channel.queue_delete(unrouted_name(name))
    connection.close()


def test_a_mis_declared_exchange_is_not_retried_as_an_outage(
    mis_declared_exchange: str, detector: Any
) -> None:
    with LocalPipeline(
        amqp_url=AMQP_URL, billing_exchange=mis_declared_exchange, detector=detector
    ) as pipeline:
        reading_id = _confirm_a_reading(pipeline)

        runs = {run.name: run for run in pipeline.state_runs(reading_id)}
        assert runs["Publish to billing"].status == "SUCCEEDED"  # no retries, no catch
        assert "Keep in outbox" not in runs
        [row] = pipeline.outbox()
        assert row["status"] == "DEAD" and "PRECONDITION_FAILED" in row["last_error"]
        reading = _thank_you(pipeline, reading_id)
        assert pipeline.twilio.messages_to(HOUSEHOLD)[-1].body == (
            messages.reading_confirmed_kept_safe(reading, "kWh")
        )
