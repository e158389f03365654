"""The publisher against the real RabbitMQ broker: what billing's queue ends up holding."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pika
import pytest
from billing_contract import billing_message
from conftest import UNREACHABLE_AMQP_URL, BillingQueue
from tcp_cut import CuttingProxy

from meter_reading.adapters.broker import (
    BillingPublisher,
    BrokerMisconfigured,
    BrokerUnavailable,
    OutgoingMessage,
    PublishNotConfirmed,
    declare_billing_topology,
    unrouted_name,
)


@pytest.fixture
def channel(rabbitmq: str) -> Iterator[Any]:
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq))
    yield connection.channel()
    connection.close()


@pytest.fixture
def exchange(channel: Any) -> Iterator[str]:
    """A billing exchange of the test's own, with nothing bound; removed afterwards."""
    name = f"meter-readings-test-{uuid.uuid4().hex[:8]}"
    yield name
    channel.exchange_delete(name)
    channel.exchange_delete(unrouted_name(name))
    channel.queue_delete(unrouted_name(name))


def _queued(channel: Any, queue: str) -> list[tuple[Any, bytes]]:
    found: list[tuple[Any, bytes]] = []
    while True:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return found
        found.append((properties, body))


def test_a_confirmed_publish_reaches_billing_as_a_persistent_contract_message(
    rabbitmq: str, billing_queue: BillingQueue
) -> None:
    BillingPublisher(rabbitmq, billing_queue.exchange).publish("MM42", billing_message("MM42"))

    # billing_queue checks each message against contract/ (schema, properties).
    [(properties, body)] = billing_queue.messages()
    assert body == billing_message("MM42").encode()
    assert properties.message_id == "MM42"


def test_with_no_billing_queue_bound_the_broker_keeps_the_message_in_the_unrouted_queue(
    rabbitmq: str, channel: Any, exchange: str
) -> None:
    BillingPublisher(rabbitmq, exchange).publish("MM43", billing_message("MM43"))

    [(properties, body)] = _queued(channel, unrouted_name(exchange))
    assert properties.message_id == "MM43"
    assert properties.delivery_mode == 2
    assert body == billing_message("MM43").encode()


def test_a_nack_is_a_refusal_not_an_outage(rabbitmq: str, channel: Any, exchange: str) -> None:
    declare_billing_topology(channel, exchange)
    full = channel.queue_declare(
        "", exclusive=True, arguments={"x-max-length": 0, "x-overflow": "reject-publish"}
    ).method.queue
    channel.queue_bind(full, exchange, routing_key="meter.reading.#")

    with pytest.raises(PublishNotConfirmed, match="nack"):
        BillingPublisher(rabbitmq, exchange).publish("MM44", billing_message("MM44"))


def test_an_exchange_declared_with_another_type_is_a_configuration_error(
    rabbitmq: str, channel: Any, exchange: str
) -> None:
    channel.exchange_declare(exchange, exchange_type="direct", durable=True)

    with pytest.raises(BrokerMisconfigured, match="PRECONDITION_FAILED"):
        BillingPublisher(rabbitmq, exchange).publish("MM45", billing_message("MM45"))


def test_an_exchange_declared_without_the_safety_net_is_a_configuration_error(
    rabbitmq: str, channel: Any, exchange: str
) -> None:
    # What the old publisher (and any consumer declaring it its own way) left behind.
    channel.exchange_declare(exchange, exchange_type="topic", durable=True)

    with pytest.raises(BrokerMisconfigured, match="alternate-exchange"):
        BillingPublisher(rabbitmq, exchange).publish("MM46", billing_message("MM46"))


def test_an_unreachable_broker_is_reported_as_an_outage() -> None:
    with pytest.raises(BrokerUnavailable):
        BillingPublisher(UNREACHABLE_AMQP_URL, "meter-readings").publish("MM47", "{}")


def test_one_session_publishes_a_batch_and_billing_gets_each_message_once(
    rabbitmq: str, billing_queue: BillingQueue
) -> None:
    ids = [f"MM{i:04d}" for i in range(2500)]
    publisher = BillingPublisher(rabbitmq, billing_queue.exchange, max_in_flight=200)
    deadline = time.monotonic() + 60
    messages = [OutgoingMessage(i, billing_message(i)) for i in ids]
    with publisher.session(deadline) as session:
        first = session.publish(messages[:100], deadline)
        rest = session.publish(messages[100:], deadline)

    assert first.failure is None and rest.failure is None
    assert first.confirmed + rest.confirmed == ids
    received = [properties.message_id for properties, _ in billing_queue.messages()]
    assert sorted(received) == ids


def test_a_connection_cut_mid_batch_leaves_every_message_confirmed_or_unconfirmed(
    rabbitmq: str, billing_queue: BillingQueue
) -> None:
    ids = [f"MM{i:04d}" for i in range(3000)]
    messages = [OutgoingMessage(i, billing_message(i)) for i in ids]
    # About 50 kB of messages go through before the cut; the cut comes in the second batch.
    with CuttingProxy(5672, cut_after_bytes=150_000) as proxy:
        publisher = BillingPublisher(proxy.url("guest", "guest"), billing_queue.exchange)
        deadline = time.monotonic() + 30
        with publisher.session(deadline) as session:
            before = session.publish(messages[:100], deadline)
            cut = session.publish(messages[100:], deadline)

    assert before.failure is None and before.confirmed == ids[:100]
    assert isinstance(cut.failure, BrokerUnavailable)
    assert cut.refused == {}
    assert sorted(cut.confirmed + cut.unconfirmed) == ids[100:]  # none unaccounted for
    received = {properties.message_id for properties, _ in billing_queue.messages()}
    # Everything confirmed is with billing; what was not may be, and will be sent again.
    assert set(before.confirmed + cut.confirmed) <= received
