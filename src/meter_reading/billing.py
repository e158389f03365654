"""Hand confirmed readings to billing: the publish step, keeping a message safe, the drain.

The outbox row is the one record of whether a message went: every publish claims it first,
so a step retried after a publish that worked, or two drains at once, never send a second
copy from our side (billing still drops copies by ``message_id``: a crash between the broker's
confirm and our write of SENT can leave one). The adapters are passed in.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from meter_reading.adapters.broker import (
    BillingPublisher,
    BrokerMisconfigured,
    BrokerUnavailable,
    OutgoingMessage,
    PublishNotConfirmed,
    PublishSession,
)
from meter_reading.adapters.tables import Claim, Outbox, OutboxEntry, epoch_now
from meter_reading.domain.records import OutboxStatus

T = TypeVar("T")

#: Covers one publish attempt (the Lambda's timeout) and the backoff before its retry,
#: which may then renew it; after that the drain owns the message.
STEP_LEASE_SECONDS = 90
#: Rows handed to the broker at once by the drain; a misconfigured broker makes these DEAD.
DRAIN_CHUNK = 500
#: Rows asked for at once; DynamoDB's 1 MB page limit usually decides first.
DRAIN_PAGE = 5000
#: The drain lock outlives the run by this much, so a run killed at its timeout is surely
#: gone before the next one may start.
DRAIN_LOCK_MARGIN_SECONDS = 60


class Outcome(StrEnum):
    PUBLISHED = "published"  # the broker confirmed it, now or before
    KEPT = "kept"  # safe in the outbox; the drain will publish it
    DEAD = "dead"  # the broker refused it or is misconfigured: kept as DEAD, ops alerted


def thank_you(outcome: Outcome) -> str:
    """The kind of thank-you message that is true for this outcome (see domain/messages.py)."""
    return "reading_confirmed" if outcome is Outcome.PUBLISHED else "reading_confirmed_kept_safe"


def step_owner(message_id: str) -> str:
    # The same for every retry of one execution's publish step, so a retry may renew it.
    return f"publish-step:{message_id}"


def publish_one(outbox: Outbox, publisher: BillingPublisher, message_id: str, body: str) -> Outcome:
    """The publish step. Raises BrokerUnavailable (worth a retry); anything else is an outcome."""
    owner = step_owner(message_id)
    claim = outbox.claim(message_id, body, owner, STEP_LEASE_SECONDS)
    if claim is Claim.SENT:
        return Outcome.PUBLISHED
    if claim is Claim.DEAD:
        return Outcome.DEAD
    if claim is Claim.TAKEN:
        return Outcome.KEPT
    try:
        publisher.publish(message_id, body)
    except BrokerUnavailable as error:
        # The row stays PENDING under our lease: a retry renews it, else the drain takes it.
        outbox.record_failure(message_id, str(error))
        raise
    except (PublishNotConfirmed, BrokerMisconfigured) as error:
        outbox.mark_dead(message_id, f"{type(error).__name__}: {error}")
        return Outcome.DEAD
    outbox.mark_sent(message_id, owner)
    return Outcome.PUBLISHED


def keep(outbox: Outbox, message_id: str, body: str, error: str) -> Outcome:
    """After the publish step gave up: the message is (still) in the outbox, for the drain."""
    status = outbox.add(message_id, body, error)
    # No attempt of the step is running any more: hand the row to the next drain now.
    outbox.release(message_id, step_owner(message_id))
    if status is OutboxStatus.SENT:
        return Outcome.PUBLISHED
    if status is OutboxStatus.DEAD:
        return Outcome.DEAD
    return Outcome.KEPT


@dataclass
class DrainReport:
    sent: int = 0
    dead: list[str] = field(default_factory=list)
    # Left PENDING: held by a publish step, or not confirmed before the run stopped.
    left: int = 0
    failure: str | None = None  # why the run stopped early, if it did
    misconfigured: bool = False
    locked_out: bool = False  # another drain run holds the lock: this one did nothing
    out_of_time: bool = False
    # Where the run's time went: waiting for the broker, or reading and writing the table.
    broker_seconds: float = 0.0
    table_seconds: float = 0.0
    # PENDING rows this run read and did not get confirmed or refused: message_id -> created_at.
    unsent: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def oldest_unsent_created_at(self) -> str | None:
        """When the oldest PENDING row this run saw and left was created (ops alarm on its age).

        Rows on pages the run did not reach (out of time) are not seen.
        """
        return min((created for created in self.unsent.values() if created), default=None)


def drain(
    outbox: Outbox,
    publisher: BillingPublisher,
    budget_seconds: float,
    owner: str | None = None,
    chunk: int = DRAIN_CHUNK,
    page: int = DRAIN_PAGE,
) -> DrainReport:
    """Publish PENDING rows over one connection until none is left or the budget is spent.

    The table work runs beside the broker's: one worker thread writes down what the broker
    confirmed while this thread publishes the next chunk, then reads the next page. Rows
    are still marked SENT only once the broker confirmed them, and the run returns only
    once every such write is done (or raises the first write that failed).
    """
    owner = owner or f"drain:{uuid.uuid4()}"
    report = DrainReport()
    stop_at = time.monotonic() + budget_seconds
    until = int(epoch_now() + budget_seconds + DRAIN_LOCK_MARGIN_SECONDS)
    if not outbox.acquire_drain_lock(owner, until):
        report.locked_out = True
        return report
    try:
        with _TableWorker(report) as table:
            _drain_pages(outbox, publisher, table, stop_at, chunk, page, report)
    finally:
        outbox.release_drain_lock(owner)
    return report


def _drain_pages(
    outbox: Outbox,
    publisher: BillingPublisher,
    table: _TableWorker,
    stop_at: float,
    chunk: int,
    page: int,
    report: DrainReport,
) -> None:
    with ExitStack() as stack:
        session: PublishSession | None = None
        pages = outbox.pending_pages(page)
        while True:
            # Read after the previous page's SENT writes (same thread, in order): rows already
            # marked have left the pending index, so the scan has fewer to go through.
            found = table.submit(next, pages, None).result()
            if found is None:
                return
            ready = found.entries
            report.unsent.update((entry.message_id, entry.created_at) for entry in ready)
            report.left += found.held
            for start in range(0, len(ready), chunk):
                batch = ready[start : start + chunk]
                if time.monotonic() >= stop_at:
                    report.out_of_time = True
                    report.left += len(ready) - start
                    return
                if session is None:
                    started = time.monotonic()
                    try:
                        session = stack.enter_context(publisher.session(stop_at))
                    except (BrokerUnavailable, BrokerMisconfigured) as error:
                        _stopped(outbox, report, batch, error)
                        return
                    finally:
                        report.broker_seconds += time.monotonic() - started
                if not _publish_batch(outbox, session, table, batch, stop_at, report):
                    report.left += len(ready) - start - len(batch)
                    return


class _TableWorker:
    """One thread for the outbox table's reads and writes, so they overlap the broker's.

    One thread keeps them in order (a page is read before the next, writes in the order
    submitted); leaving waits for all of them and raises the first write that failed.
    """

    def __init__(self, report: DrainReport) -> None:
        self._report = report
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-table")
        self._writes: list[Future[None]] = []

    def __enter__(self) -> _TableWorker:
        return self

    def __exit__(self, *_exc: object) -> None:
        try:
            for write in self._writes:
                write.result()
        finally:
            self._executor.shutdown(wait=True, cancel_futures=True)

    def submit(self, function: Callable[..., T], *args: Any) -> Future[T]:
        def timed() -> T:
            started = time.monotonic()
            try:
                return function(*args)
            finally:
                self._report.table_seconds += time.monotonic() - started

        return self._executor.submit(timed)

    def write(self, function: Callable[..., None], *args: Any) -> None:
        self._writes.append(self.submit(function, *args))

    def raise_failed_write(self) -> None:
        """Stop publishing once writing down what was sent fails (the table is in trouble):
        rows the broker confirmed but we could not mark would be published again."""
        for write in self._writes:
            if write.done() and write.exception() is not None:
                write.result()


def _publish_batch(
    outbox: Outbox,
    session: PublishSession,
    table: _TableWorker,
    batch: Sequence[OutboxEntry],
    stop_at: float,
    report: DrainReport,
) -> bool:
    """Publish, then have what the broker said written down; False if the run must stop."""
    table.raise_failed_write()
    by_id = {entry.message_id: entry for entry in batch}
    started = time.monotonic()
    result = session.publish([OutgoingMessage(e.message_id, e.body) for e in batch], stop_at)
    report.broker_seconds += time.monotonic() - started
    if result.confirmed:
        table.write(outbox.mark_sent_many, [by_id[message_id] for message_id in result.confirmed])
    report.sent += len(result.confirmed)
    for message_id in result.confirmed:
        report.unsent.pop(message_id, None)
    for message_id, why in result.refused.items():
        table.write(outbox.mark_dead, message_id, f"PublishNotConfirmed: {why}")
        report.dead.append(message_id)
        report.unsent.pop(message_id, None)
    if result.failure is None:
        return True
    _stopped(outbox, report, [by_id[m] for m in result.unconfirmed], result.failure)
    return False


def _stopped(
    outbox: Outbox, report: DrainReport, unconfirmed: Sequence[OutboxEntry], error: Exception
) -> None:
    report.failure = f"{type(error).__name__}: {error}"
    if isinstance(error, BrokerMisconfigured):
        # Retrying cannot help until the broker changes: out of the queue, ops alerted.
        report.misconfigured = True
        for entry in unconfirmed:
            outbox.mark_dead(entry.message_id, report.failure)
            report.dead.append(entry.message_id)
            report.unsent.pop(entry.message_id, None)
    else:
        report.left += len(unconfirmed)
