"""Shared fixtures: the real RabbitMQ broker, the local pipeline, the real meter photos."""

from __future__ import annotations

import csv
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pika
import pytest

from meter_reading.adapters.broker import declare_billing_topology, unrouted_name
from meter_reading.local.runtime import DEFAULT_AMQP_URL, LocalPipeline

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
METER_PHOTOS = SHARED / "meter-photos"
AMQP_URL = DEFAULT_AMQP_URL
UNREACHABLE_AMQP_URL = "amqp://guest:guest@127.0.0.1:1/"


@dataclass(frozen=True)
class LabelledPhoto:
    path: Path
    reading_digits: str
    meter_type: str
    #: Other digits the label accepts (a drum between two digits).
    also_accept: tuple[str, ...] = ()


@pytest.fixture(scope="session")
def meter_photos() -> list[LabelledPhoto]:
    labels = METER_PHOTOS / "labels.csv"
    if not labels.is_file():
        pytest.skip(f"real meter photos not found at {METER_PHOTOS} (../shared is absent)")
    with labels.open(newline="") as handle:
        return [
            LabelledPhoto(
                METER_PHOTOS / "images" / row["file"],
                row["reading_digits"],
                row["meter_type"],
                tuple(v.strip() for v in (row.get("also_accept") or "").split("|") if v.strip()),
            )
            for row in csv.DictReader(handle)
        ]


def _broker_up() -> bool:
    try:
        pika.BlockingConnection(pika.URLParameters(AMQP_URL)).close()
        return True
    except pika.exceptions.AMQPError:
        return False


@pytest.fixture(scope="session")
def rabbitmq() -> str:
    """The real broker; started if it is installed but not running."""
    if not _broker_up() and shutil.which("rabbitmq-server"):
        subprocess.run(["rabbitmq-server", "-detached"], check=False, capture_output=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _broker_up():
            time.sleep(1)
    if not _broker_up():
        pytest.fail(f"RabbitMQ is not reachable at {AMQP_URL}: these tests need the real broker")
    return AMQP_URL


@dataclass
class BillingQueue:
    """A queue bound to a test's own billing exchange: what the C# consumer would receive."""

    channel: Any
    exchange: str
    queue: str

    def messages(self) -> list[tuple[Any, bytes]]:
        """What billing received; every message is checked against the contract (contract/)."""
        from billing_contract import assert_billing_message

        found: list[tuple[Any, bytes]] = []
        while True:
            method, properties, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                return found
            assert_billing_message(properties, body)
            found.append((properties, body))


@pytest.fixture
def billing_queue(rabbitmq: str) -> Iterator[BillingQueue]:
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq))
    channel = connection.channel()
    exchange = f"meter-readings-test-{uuid.uuid4().hex[:8]}"
    declare_billing_topology(channel, exchange)
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(queue, exchange, routing_key="meter.reading.#")
    yield BillingQueue(channel, exchange, queue)
    channel.exchange_delete(exchange)
    channel.exchange_delete(unrouted_name(exchange))
    channel.queue_delete(unrouted_name(exchange))
    connection.close()


@pytest.fixture(scope="session")
def detector() -> Any:
    from meter_reading.local.ocr_engine import OfflineTextDetector

    return OfflineTextDetector()


@pytest.fixture
def start_pipeline(billing_queue: BillingQueue, detector: Any) -> Iterator[Any]:
    """Start a pipeline with particular settings (a short timeout, a broken broker URL)."""
    started: list[LocalPipeline] = []

    def start(**settings: Any) -> LocalPipeline:
        settings.setdefault("amqp_url", AMQP_URL)
        running = LocalPipeline(
            billing_exchange=billing_queue.exchange, detector=detector, **settings
        )
        started.append(running.__enter__())
        return running

    yield start
    for running in reversed(started):
        running.__exit__(None, None, None)


@pytest.fixture
def pipeline(start_pipeline: Any) -> LocalPipeline:
    running: LocalPipeline = start_pipeline()
    return running
