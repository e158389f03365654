"""The outbox against moto's DynamoDB and the real broker: what billing gets, and what is kept.

Every message billing's queue receives here is also checked against the contract.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import boto3
import pika
import pytest
from billing_contract import billing_message
from botocore.exceptions import ClientError
from conftest import UNREACHABLE_AMQP_URL, BillingQueue
from faults import error_response
from moto import mock_aws
from tcp_cut import CuttingProxy

from meter_reading import billing
from meter_reading.adapters.broker import (
    BillingPublisher,
    BrokerUnavailable,
    declare_billing_topology,
    unrouted_name,
)
from meter_reading.adapters.tables import OUTBOX_PENDING_INDEX, Claim, DynamoTable, Outbox
from meter_reading.domain.records import OutboxStatus
from meter_reading.local.table_definitions import outbox_table


@pytest.fixture
def outbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Outbox]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield Outbox(create_outbox_table("meter-outbox"))


def create_outbox_table(name: str) -> DynamoTable:
    """As template.yaml declares it: keyed by message_id, with the sparse pending index."""
    client = boto3.client("dynamodb")
    client.create_table(**outbox_table(name))
    return DynamoTable(client, name)


@pytest.fixture
def publisher(rabbitmq: str, billing_queue: BillingQueue) -> BillingPublisher:
    return BillingPublisher(rabbitmq, billing_queue.exchange)


def _received(billing_queue: BillingQueue) -> Counter[str]:
    return Counter(properties.message_id for properties, _ in billing_queue.messages())


def _seed(outbox: Outbox, count: int, prefix: str = "MM") -> list[str]:
    ids = [f"{prefix}{i:05d}" for i in range(count)]
    for message_id in ids:
        outbox.add(message_id, billing_message(message_id), error="BrokerUnavailable")
    return ids


def _statuses(outbox: Outbox, ids: list[str]) -> Counter[str]:
    """How many of `ids` are in each status, as ops would see the table."""
    items = outbox.table.scan(ConsistentRead=True)["Items"]
    status = {item["message_id"]: item.get("status") for item in items}
    return Counter(status.get(message_id, "MISSING") for message_id in ids)


# --------------------------------------------------------------------------- the publish step


def test_a_step_retried_after_a_publish_that_worked_does_not_publish_again(
    outbox: Outbox, publisher: BillingPublisher, billing_queue: BillingQueue
) -> None:
    first = billing.publish_one(outbox, publisher, "MM1", billing_message("MM1"))
    # Step Functions retries when the Lambda's response is lost: the same step, again.
    again = [
        billing.publish_one(outbox, publisher, "MM1", billing_message("MM1")) for _ in range(4)
    ]

    assert first is billing.Outcome.PUBLISHED
    assert again == [billing.Outcome.PUBLISHED] * 4
    assert _received(billing_queue) == {"MM1": 1}
    entry = outbox.get("MM1")
    assert entry is not None and entry.status is OutboxStatus.SENT
    # Billing has its copy and the reading keeps the data: no second copy of the household's
    # number lingers in the outbox.
    assert entry.body == ""


def test_a_step_retried_after_an_outage_publishes_once_the_broker_is_back(
    outbox: Outbox, publisher: BillingPublisher, billing_queue: BillingQueue
) -> None:
    down = BillingPublisher(UNREACHABLE_AMQP_URL, publisher.exchange)
    with pytest.raises(BrokerUnavailable):
        billing.publish_one(outbox, down, "MM2", billing_message("MM2"))
    entry = outbox.get("MM2")
    assert entry is not None and entry.status is OutboxStatus.PENDING and entry.attempts == 1

    assert billing.publish_one(outbox, publisher, "MM2", billing_message("MM2")) is (
        billing.Outcome.PUBLISHED
    )
    assert _received(billing_queue) == {"MM2": 1}


def test_after_the_step_gives_up_the_drain_delivers_the_message_once(
    outbox: Outbox, publisher: BillingPublisher, billing_queue: BillingQueue
) -> None:
    down = BillingPublisher(UNREACHABLE_AMQP_URL, publisher.exchange)
    for _ in range(3):  # the step and its retries, all during the outage
        with pytest.raises(BrokerUnavailable):
            billing.publish_one(outbox, down, "MM3", billing_message("MM3"))
    outcome = billing.keep(outbox, "MM3", billing_message("MM3"), error="BrokerUnavailable")

    assert outcome is billing.Outcome.KEPT
    assert billing.thank_you(outcome) == "reading_confirmed_kept_safe"
    report = billing.drain(outbox, publisher, budget_seconds=30)
    assert report.sent == 1 and report.failure is None
    assert billing.drain(outbox, publisher, budget_seconds=30).sent == 0
    assert _received(billing_queue) == {"MM3": 1}


def test_while_a_step_holds_its_lease_the_drain_leaves_the_message_to_it(
    outbox: Outbox, publisher: BillingPublisher, billing_queue: BillingQueue
) -> None:
    owner = billing.step_owner("MM4")
    assert outbox.claim("MM4", billing_message("MM4"), owner, lease_seconds=90) is Claim.CLAIMED

    report = billing.drain(outbox, publisher, budget_seconds=30)

    assert report.sent == 0 and report.left == 1
    assert _received(billing_queue) == {}
    # A lease that ran out (its step died) is the drain's: the step may not take it back.
    outbox.claim("MM5", billing_message("MM5"), owner, lease_seconds=90, now=time.time() - 600)
    assert outbox.claim("MM5", billing_message("MM5"), owner, lease_seconds=90) is Claim.TAKEN
    assert billing.drain(outbox, publisher, budget_seconds=30).sent == 1
    assert _received(billing_queue) == {"MM5": 1}


def test_a_nacked_message_is_kept_as_dead_and_can_be_requeued_once_fixed(
    outbox: Outbox, rabbitmq: str, billing_queue: BillingQueue
) -> None:
    full = billing_queue.channel.queue_declare(
        "", exclusive=True, arguments={"x-max-length": 0, "x-overflow": "reject-publish"}
    ).method.queue
    channel, exchange, key = billing_queue.channel, billing_queue.exchange, "meter.reading.#"
    channel.queue_bind(full, exchange, routing_key=key)
    # A nack does not mean no queue got it: billing's own queue would have (and dropped the
    # later copy by message_id). Here only the refusing queue is bound.
    channel.queue_unbind(billing_queue.queue, exchange, routing_key=key)
    publisher = BillingPublisher(rabbitmq, exchange)

    outcome = billing.publish_one(outbox, publisher, "MM6", billing_message("MM6"))

    assert outcome is billing.Outcome.DEAD
    assert billing.thank_you(outcome) == "reading_confirmed_kept_safe"
    entry = outbox.get("MM6")
    assert entry is not None and entry.status is OutboxStatus.DEAD
    assert entry.body == billing_message("MM6")  # kept, whole
    assert outbox.pending(limit=10) == []  # out of the retry queue
    assert billing.publish_one(outbox, publisher, "MM6", billing_message("MM6")) is (
        billing.Outcome.DEAD
    )

    channel.queue_delete(full)  # ops fix the broker, then requeue
    channel.queue_bind(billing_queue.queue, exchange, routing_key=key)
    assert outbox.requeue("MM6") is True
    assert billing.drain(outbox, publisher, budget_seconds=30).sent == 1
    assert _received(billing_queue) == {"MM6": 1}


def test_a_mis_declared_exchange_makes_the_message_dead_not_an_endless_outage(
    outbox: Outbox, rabbitmq: str
) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq))
    channel = connection.channel()
    exchange = f"meter-readings-test-{time.monotonic_ns()}"
    channel.exchange_declare(exchange, exchange_type="fanout", durable=False)
    try:
        publisher = BillingPublisher(rabbitmq, exchange)
        assert billing.publish_one(outbox, publisher, "MM7", billing_message("MM7")) is (
            billing.Outcome.DEAD
        )
        entry = outbox.get("MM7")
        assert entry is not None and entry.status is OutboxStatus.DEAD

        # The drain stops at the first batch and keeps the rest for after the fix.
        ids = _seed(outbox, 7, prefix="MX")
        report = billing.drain(outbox, publisher, budget_seconds=30, chunk=3)
        assert report.misconfigured and "PRECONDITION_FAILED" in (report.failure or "")
        assert len(report.dead) == 3
        assert _statuses(outbox, ids) == {"DEAD": 3, "PENDING": 4}
    finally:
        channel.exchange_delete(exchange)
        channel.exchange_delete(unrouted_name(exchange))
        channel.queue_delete(unrouted_name(exchange))
        connection.close()


# --------------------------------------------------------------------------- the drain


def _in_pending_index(outbox: Outbox) -> set[str]:
    client, name = outbox.table.client, outbox.table.name
    items = client.scan(TableName=name, IndexName=OUTBOX_PENDING_INDEX)["Items"]
    return {item["message_id"]["S"] for item in items}


def test_only_rows_still_to_send_are_in_the_pending_index(outbox: Outbox) -> None:
    # The drain scans the sparse index: SENT and DEAD rows (and the lock) must have left it,
    # however many of them the table keeps.
    ids = _seed(outbox, 4)
    outbox.claim("MMLEASED", billing_message("MMLEASED"), "publish-step:x", lease_seconds=90)
    assert outbox.acquire_drain_lock("drain:test", until=int(time.time()) + 60)
    outbox.mark_sent_many([entry for entry in outbox.pending(10) if entry.message_id == ids[0]])
    assert outbox.mark_sent(ids[1], owner="drain:test") is False
    outbox.mark_dead(ids[2], "PublishNotConfirmed: nacked by the broker")

    assert _in_pending_index(outbox) == {ids[3], "MMLEASED"}
    # The leased row is the step's: counted, not handed to the drain.
    [page] = list(outbox.pending_pages(10))
    assert [entry.message_id for entry in page.entries] == [ids[3]] and page.held == 1
    assert page.entries[0].body == billing_message(ids[3])
    created = outbox.get(ids[3])
    assert created is not None and page.entries[0].created_at == created.created_at
    sent = outbox.get(ids[0])
    assert sent is not None and sent.status is OutboxStatus.SENT and sent.body == ""
    assert sent.created_at  # written whole, created_at kept

    # Requeued by ops: back in the index, under the time it was first kept.
    dead = outbox.get(ids[2])
    assert outbox.requeue(ids[2]) is True and outbox.requeue(ids[2]) is False
    assert _in_pending_index(outbox) == {ids[2], ids[3], "MMLEASED"}
    requeued = [e for e in outbox.pending(10) if e.message_id == ids[2]]
    assert dead is not None and [e.created_at for e in requeued] == [dead.created_at]
    assert outbox.requeue("MMNOTHERE") is False


def test_one_drain_run_sends_a_backlog_once_over_one_connection(
    outbox: Outbox, publisher: BillingPublisher, billing_queue: BillingQueue
) -> None:
    ids = _seed(outbox, 700)

    report = billing.drain(outbox, publisher, budget_seconds=60, page=300, chunk=200)

    assert report.sent == 700 and report.left == 0 and report.failure is None
    assert _statuses(outbox, ids) == {"SENT": 700}
    assert _received(billing_queue) == dict.fromkeys(ids, 1)


def test_an_overlapping_drain_run_publishes_nothing(
    outbox: Outbox, publisher: BillingPublisher, billing_queue: BillingQueue
) -> None:
    ids = _seed(outbox, 800)
    reports: list[billing.DrainReport] = []
    first = threading.Thread(
        target=lambda: reports.append(billing.drain(outbox, publisher, 60, chunk=100))
    )
    first.start()
    while not any(e.status is OutboxStatus.SENT for e in map(outbox.get, ids[:100]) if e):
        time.sleep(0.05)  # the first run is publishing now
    second = billing.drain(outbox, publisher, budget_seconds=60)
    first.join()

    assert second.locked_out and second.sent == 0
    assert reports[0].sent == 800
    assert _received(billing_queue) == dict.fromkeys(ids, 1)


def test_a_lock_left_by_a_run_that_died_does_not_stop_the_next_run(
    outbox: Outbox, publisher: BillingPublisher, billing_queue: BillingQueue
) -> None:
    _seed(outbox, 3)
    assert outbox.acquire_drain_lock("drain:died", until=int(time.time()) - 120)

    assert billing.drain(outbox, publisher, budget_seconds=30).sent == 3


def test_a_connection_lost_mid_drain_keeps_the_rest_pending_and_nothing_is_lost(
    outbox: Outbox, billing_queue: BillingQueue, rabbitmq: str
) -> None:
    ids = _seed(outbox, 1000)
    # The first batch (about 125 kB) gets through, the cut comes in the second.
    with CuttingProxy(5672, cut_after_bytes=200_000) as proxy:
        cut = BillingPublisher(proxy.url("guest", "guest"), billing_queue.exchange)
        first = billing.drain(outbox, cut, budget_seconds=30, chunk=250)

    assert first.failure is not None and "BrokerUnavailable" in first.failure
    assert 250 <= first.sent < 1000
    assert first.dead == []
    assert _statuses(outbox, ids) == {"SENT": first.sent, "PENDING": 1000 - first.sent}

    second = billing.drain(outbox, BillingPublisher(rabbitmq, billing_queue.exchange), 60)
    assert second.sent == 1000 - first.sent and second.failure is None
    received = _received(billing_queue)
    assert set(received) == set(ids)  # nothing lost
    # A copy only of what was in flight when the connection went (billing drops those).
    assert sum(received.values()) - len(ids) <= 250


def test_when_writing_down_what_was_sent_fails_the_drain_stops_and_fails_loudly(
    outbox: Outbox, publisher: BillingPublisher, billing_queue: BillingQueue
) -> None:
    ids = _seed(outbox, 60)
    events = outbox.table.client.meta.events
    # DynamoDB refusing every SENT write, as AWS answers it (the rows stay PENDING).
    events.register_first(
        "before-call.dynamodb.BatchWriteItem",
        lambda **_: error_response("InternalServerError", 500),
        unique_id="outbox-writes-fail",
    )
    try:
        with pytest.raises(ClientError, match="InternalServerError"):
            billing.drain(outbox, publisher, budget_seconds=30, chunk=5)
    finally:
        events.unregister("before-call.dynamodb.BatchWriteItem", unique_id="outbox-writes-fail")

    assert _statuses(outbox, ids) == {"PENDING": 60}
    # It stopped publishing once a write had failed, rather than sending every row it
    # could not mark (each is a copy billing will have to drop).
    assert sum(_received(billing_queue).values()) < 60
    # The lock was let go: the next run sends them all (again, for those sent before).
    assert billing.drain(outbox, publisher, budget_seconds=30).sent == 60
    assert set(_received(billing_queue)) == set(ids)
    assert _statuses(outbox, ids) == {"SENT": 60}


def test_a_run_out_of_time_stops_between_batches_and_the_next_run_goes_on(
    outbox: Outbox, publisher: BillingPublisher, billing_queue: BillingQueue
) -> None:
    ids = _seed(outbox, 300)

    first = billing.drain(outbox, publisher, budget_seconds=0.0, chunk=100)
    assert first.out_of_time and first.sent == 0
    second = billing.drain(outbox, publisher, budget_seconds=60, chunk=100)

    assert second.sent == 300
    assert _received(billing_queue) == dict.fromkeys(ids, 1)


def test_the_drain_declares_the_topology_it_publishes_to(outbox: Outbox, rabbitmq: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq))
    channel = connection.channel()
    exchange = f"meter-readings-test-{time.monotonic_ns()}"
    try:
        _seed(outbox, 2)
        assert billing.drain(outbox, BillingPublisher(rabbitmq, exchange), 30).sent == 2
        # Nobody bound a queue: the broker kept both in the unrouted queue.
        declare_billing_topology(channel, exchange)  # the same declaration is accepted
        unrouted = channel.queue_declare(unrouted_name(exchange), passive=True)
        assert unrouted.method.message_count == 2
    finally:
        channel.exchange_delete(exchange)
        channel.exchange_delete(unrouted_name(exchange))
        channel.queue_delete(unrouted_name(exchange))
        connection.close()
