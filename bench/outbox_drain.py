"""Outbox drain after a broker outage: 10,000 PENDING rows, drained against the real broker.

    python bench/outbox_drain.py [--rows N] [--amqp-url URL] [--outage-hours H] [--no-gc-freeze]

Seeds N PENDING rows in moto's DynamoDB (the outbox table as template.yaml declares it, rows
as the Keep-in-outbox step writes them, created one after the other over an outage of H
hours, 3 by default), then invokes the real outbox_retry handler, as the 2-minute schedule
would, with the Lambda's time budget from template.yaml, until the outbox has nothing
PENDING. A queue bound to the bench's own billing exchange plays billing: every message it
gets is counted by message_id.

Before the runs, the heap as it is (moto's seeded table with it) is frozen, so that the
garbage collector does not walk moto's table at every full collection (`--no-gc-freeze`
shows that cost). Prints each run, then the totals: the run's wall time and this process's
CPU time (moto runs in it, so under load the CPU time is the steadier figure), the broker's
share (publishing and waiting for confirms) and the outbox table's (moto), which overlap:
the drain writes down what was confirmed while it publishes the next chunk. The last line is
exactly ``drained=N msg_per_s=X runs=R lost=L duplicated=D``, where msg_per_s is rows drained
per second of the runs' whole wall time (moto and the broker together), lost counts seeded
rows billing never got, duplicated the copies beyond the first.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
AMQP_URL_PARAMETER = "/meter-reading/bench/amqp-url"
TABLE = "meter-outbox-bench"


@dataclass
class BenchContext:
    """What Powertools and the handler read from Lambda's context object."""

    timeout_seconds: float
    function_name: str = "OutboxRetryFunction"
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:OutboxRetry"

    def __post_init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._ends = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends - time.monotonic()) * 1000))


def _environment(exchange: str) -> None:
    os.environ.update(
        {
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "OUTBOX_TABLE": TABLE,
            "AMQP_URL_PARAMETER": AMQP_URL_PARAMETER,
            "BILLING_EXCHANGE": exchange,
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )


def _create_table() -> Any:
    import boto3

    from meter_reading.local.table_definitions import outbox_table

    return boto3.resource("dynamodb").create_table(**outbox_table(TABLE))


def _seed(table: Any, rows: int, outage_seconds: float) -> list[str]:
    """PENDING rows as Outbox.add writes them, in batches (seeding is not what is measured).

    Added one after the other over the outage, as the readings were confirmed: each row's
    created_at (to the second, as Outbox.add stamps it) is a little later than the last.
    """
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from meter_reading.adapters.tables import pending_key
    from meter_reading.domain.contract import ConfirmedReading

    ids = [f"MM{uuid.uuid4().hex}" for _ in range(rows)]
    started = datetime.now(UTC) - timedelta(seconds=outage_seconds)
    step = outage_seconds / max(1, rows)
    with table.batch_writer() as batch:
        for number, message_id in enumerate(ids):
            now = (started + timedelta(seconds=number * step)).isoformat(timespec="seconds")
            body = ConfirmedReading(
                reading_id=message_id,
                sender="whatsapp:+27821234567",
                reading=Decimal("3662.0"),
                unit="kWh",
                confidence=Decimal("0.97"),
                s3_key=f"photos/{message_id}.jpg",
                photo_time=now,
                confirmed_time=now,
            ).to_json()
            batch.put_item(
                Item={
                    "message_id": message_id,
                    "body": body,
                    "status": "PENDING",
                    "created_at": now,
                    "pending": pending_key(now, message_id),
                    "attempts": 0,
                    "last_error": '{"Error": "BrokerUnavailable"}',
                }
            )
    return ids


def _freeze_heap() -> int:
    """Keep the collector off what is in this process before the drain starts.

    moto keeps the whole table in this process: 10,000 seeded rows are some 100,000 objects
    that each full collection walks (0.4-0.5 s of a drain here, a cost no Lambda has: its
    table is DynamoDB's). Objects the drain allocates are collected as usual.
    """
    import gc

    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def _outbox_retry_handler() -> tuple[Any, float]:
    from meter_reading.local import template

    spec = template.load_template(ROOT / "template.yaml")
    function = spec["Resources"]["OutboxRetryFunction"]["Properties"]
    handler = template.load_handler(template.functions(spec, ROOT)["OutboxRetryFunction"])
    return handler, float(function["Timeout"])


class Billing:
    """A queue bound to the bench's exchange, as billing's would be; removed afterwards."""

    def __init__(self, amqp_url: str, exchange: str) -> None:
        import pika

        from meter_reading.adapters.broker import declare_billing_topology

        self.exchange = exchange
        self.connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        self.channel = self.connection.channel()
        declare_billing_topology(self.channel, exchange)
        self.queue = self.channel.queue_declare("", exclusive=True).method.queue
        self.channel.queue_bind(self.queue, exchange, routing_key="meter.reading.#")

    def received(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        self.channel.basic_qos(prefetch_count=1000)
        for method, properties, _body in self.channel.consume(
            self.queue, auto_ack=True, inactivity_timeout=2.0
        ):
            if method is None:
                break
            counts[str(properties.message_id)] += 1
        self.channel.cancel()
        return counts

    def close(self) -> None:
        from meter_reading.adapters.broker import unrouted_name

        self.channel.exchange_delete(self.exchange)
        self.channel.exchange_delete(unrouted_name(self.exchange))
        self.channel.queue_delete(unrouted_name(self.exchange))
        self.connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--amqp-url", default=os.environ.get("AMQP_URL", DEFAULT_AMQP_URL))
    parser.add_argument("--max-runs", type=int, default=20)
    parser.add_argument(
        "--no-gc-freeze",
        dest="gc_freeze",
        action="store_false",
        help="let the garbage collector walk moto's table too (see _freeze_heap)",
    )
    parser.add_argument(
        "--outage-hours",
        type=float,
        default=3.0,
        help="the rows' created_at spread over this long (0: all in the same second)",
    )
    args = parser.parse_args(argv)

    import boto3
    from moto import mock_aws

    from meter_reading import wiring
    from meter_reading.adapters.tables import OUTBOX_PENDING_INDEX

    exchange = f"meter-readings-bench-{uuid.uuid4().hex[:8]}"
    _environment(exchange)
    billing = Billing(args.amqp_url, exchange)
    try:
        with mock_aws():
            wiring.reset()
            boto3.client("ssm").put_parameter(
                Name=AMQP_URL_PARAMETER, Value=args.amqp_url, Type="SecureString"
            )
            table = _create_table()
            started = time.monotonic()
            ids = _seed(table, args.rows, args.outage_hours * 3600)
            seeded = f"seeded {len(ids)} PENDING rows on moto in {time.monotonic() - started:.1f} s"
            handler, timeout = _outbox_retry_handler()
            if args.gc_freeze:
                seeded += f" ({_freeze_heap()} objects frozen)"
            print(seeded)

            runs = drained = 0
            drain_seconds = broker_seconds = table_seconds = cpu_seconds = 0.0
            while runs < args.max_runs:
                runs += 1
                started, cpu_started = time.monotonic(), time.process_time()
                result = handler({"source": "aws.events"}, BenchContext(timeout))
                seconds = time.monotonic() - started
                cpu = time.process_time() - cpu_started
                drain_seconds += seconds
                cpu_seconds += cpu
                broker_seconds += float(result["broker_seconds"])
                table_seconds += float(result["table_seconds"])
                drained += int(result["sent"])
                print(
                    f"run {runs}: sent={result['sent']} dead={result['dead']} "
                    f"left={result['left']} failure={result['failure']} "
                    f"out_of_time={result['out_of_time']} in {seconds:.2f} s, {cpu:.2f} s of "
                    f"this process's CPU (broker {result['broker_seconds']:.2f} s, outbox "
                    f"table on moto {result['table_seconds']:.2f} s, overlapping; Lambda "
                    f"timeout {timeout:.0f} s)"
                )
                pending = table.scan(IndexName=OUTBOX_PENDING_INDEX, Select="COUNT")["Count"]
                if pending == 0:
                    break
            wiring.reset()
        received = billing.received()
    finally:
        billing.close()

    lost = sum(1 for message_id in ids if received[message_id] == 0)
    duplicated = sum(count - 1 for count in received.values() if count > 1)
    rate = drained / drain_seconds if drain_seconds else 0.0
    print(f"billing received {sum(received.values())} messages, {len(received)} distinct")
    print(
        f"drain: {drained} rows in {drain_seconds:.2f} s over {runs} run(s), "
        f"{cpu_seconds:.2f} s of this process's CPU (moto, pika and the handler)"
    )
    if broker_seconds:
        print(
            f"of which publishing and waiting for confirms: {broker_seconds:.2f} s "
            f"({drained / broker_seconds:.0f} msg/s); reading and writing the outbox table "
            f"on moto: {table_seconds:.2f} s (the two overlap)"
        )
    print(f"drained={drained} msg_per_s={rate:.0f} runs={runs} lost={lost} duplicated={duplicated}")
    return 0 if lost == 0 and duplicated == 0 and drained == len(ids) else 1


if __name__ == "__main__":
    sys.exit(main())
