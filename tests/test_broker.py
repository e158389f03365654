"""The publisher against the real RabbitMQ broker."""

from __future__ import annotations

import uuid

import pika
import pytest
from conftest import UNREACHABLE_AMQP_URL, BillingQueue

from meter_reading.adapters.broker import BillingPublisher, BrokerUnavailable, PublishNotConfirmed


def test_a_confirmed_publish_reaches_a_bound_queue_as_persistent_json(
    rabbitmq: str, billing_queue: BillingQueue
) -> None:
    BillingPublisher(rabbitmq, billing_queue.exchange).publish("MM42", '{"reading": "1"}')

    [(properties, body)] = billing_queue.messages()
    assert body == b'{"reading": "1"}'
    assert properties.message_id == "MM42"
    assert properties.content_type == "application/json"
    assert properties.delivery_mode == 2


def test_a_message_no_queue_would_receive_is_not_taken_as_published(rabbitmq: str) -> None:
    exchange = f"meter-readings-unbound-{uuid.uuid4().hex[:8]}"
    try:
        with pytest.raises(PublishNotConfirmed):
            BillingPublisher(rabbitmq, exchange).publish("MM43", "{}")
    finally:
        connection = pika.BlockingConnection(pika.URLParameters(rabbitmq))
        connection.channel().exchange_delete(exchange)
        connection.close()


def test_an_unreachable_broker_is_reported_as_such() -> None:
    with pytest.raises(BrokerUnavailable):
        BillingPublisher(UNREACHABLE_AMQP_URL, "meter-readings").publish("MM44", "{}")
