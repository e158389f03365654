"""DynamoDB: the billing outbox, every message from the moment a publish is attempted.

Apart from the tables module so that a function that never publishes (the webhook) need
not build its classes at a cold start; `meter_reading.adapters.tables` still exports them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from meter_reading.adapters.tables import (
    BATCH_WRITE_ATTEMPTS,
    BATCH_WRITE_LIMIT,
    LEASE_SKEW_SECONDS,
    OUTBOX_DRAIN_LOCK,
    OUTBOX_PENDING_INDEX,
    DynamoTable,
    _conditional_check_failed,
    epoch_now,
    pending_key,
    utc_now,
)
from meter_reading.domain.records import OutboxStatus


@dataclass(frozen=True)
class OutboxEntry:
    message_id: str
    body: str
    status: OutboxStatus
    created_at: str = ""
    attempts: int = 0
    # A publish step holds the row while it publishes; nobody else may publish it meanwhile.
    lease_owner: str | None = None
    lease_expires: int | None = None  # epoch seconds

    def leased(self, now: float) -> bool:
        return self.lease_expires is not None and now < self.lease_expires + LEASE_SKEW_SECONDS


class Claim(StrEnum):
    """What a publish step may do with a message (see `Outbox.claim`)."""

    CLAIMED = "CLAIMED"  # publish it now: nobody else will until the lease runs out
    SENT = "SENT"  # the broker confirmed it before: publishing again would make a copy
    DEAD = "DEAD"  # the broker refused it; ops have been told
    TAKEN = "TAKEN"  # pending, and someone else's to publish (the drain, or a lease we lost)


def _entry(item: dict[str, Any]) -> OutboxEntry:
    expires = item.get("lease_expires")
    return OutboxEntry(
        message_id=item["message_id"],
        body=item.get("body", ""),
        status=OutboxStatus(item.get("status", OutboxStatus.PENDING.value)),
        created_at=item.get("created_at", ""),
        attempts=int(item.get("attempts", 0)),
        lease_owner=item.get("lease_owner"),
        lease_expires=int(expires) if expires is not None else None,
    )


def _pending_row(message_id: str, body: str) -> dict[str, Any]:
    """A new outbox row: PENDING, in the pending index, never attempted."""
    created_at = utc_now()
    return {
        "message_id": message_id,
        "body": body,
        "status": OutboxStatus.PENDING.value,
        "created_at": created_at,
        "pending": pending_key(created_at, message_id),
        "attempts": 0,
    }


def _client_and_name(table: Any) -> tuple[Any, str]:
    """The low-level client and table name the drain reads and writes typed values with.

    Not a boto3 Table resource: its client turns every value into a typed one again.
    """
    if not isinstance(table, DynamoTable):
        raise TypeError("the outbox drain needs a DynamoTable (the low-level client)")
    return table.client, table.name


def _pending_entry(item: dict[str, Any]) -> OutboxEntry:
    """A row as the drain's Scan of the pending index returns it (DynamoDB's typed values)."""
    created_at, _, message_id = item["pending"]["S"].partition("#")
    return OutboxEntry(
        message_id=message_id,
        body=item.get("body", {}).get("S", ""),
        status=OutboxStatus.PENDING,
        created_at=created_at,
    )


@dataclass
class PendingPage:
    """One page of the pending index: the rows the drain may publish, and how many it may not."""

    entries: list[OutboxEntry]
    held: int = 0  # PENDING but leased to a publish step that may still be running


def _batch_write(client: Any, table_name: str, requests: list[dict[str, Any]]) -> None:
    """One BatchWriteItem, resending what DynamoDB leaves unprocessed until all is written."""
    pending = requests
    for attempt in range(BATCH_WRITE_ATTEMPTS):
        response = client.batch_write_item(RequestItems={table_name: pending})
        pending = response.get("UnprocessedItems", {}).get(table_name, [])
        if not pending:
            return
        time.sleep(min(1.0, 0.05 * 2**attempt))
    raise OutboxWriteIncomplete(f"{len(pending)} writes left unprocessed on {table_name}")


class OutboxWriteIncomplete(Exception):
    """DynamoDB kept refusing some of a batch's writes (throttling)."""


@dataclass
class Outbox:
    """Every billing message, from the moment a publish is attempted; drained by outbox_retry.

    PENDING rows wait for the broker; SENT rows record that the broker confirmed them (the
    body is dropped then: the reading keeps the data, and billing has its copy); DEAD rows
    were refused by the broker or hit a broker misconfiguration. Nothing is ever deleted.
    Only PENDING rows carry `pending` (see `pending_key`): whatever makes a row SENT or DEAD
    removes it, so the drain's index holds just the rows still to send.

    Who publishes a PENDING row: the publish step holding its lease, otherwise the one
    drain run holding the drain lock. So a retried step, or two overlapping drains, never
    publish the same row at the same time, and a SENT row is never published again.
    """

    table: Any

    # -- the publish step ---------------------------------------------------------------
    def add(self, message_id: str, body: str, error: str) -> OutboxStatus:
        """Keep the message PENDING (unless it is already here); its status afterwards."""
        try:
            self.table.put_item(
                Item=_pending_row(message_id, body) | {"last_error": error[:1000]},
                # A replayed Catch must not reset a message that was already sent.
                ConditionExpression="attribute_not_exists(message_id)",
            )
            return OutboxStatus.PENDING
        except Exception as err:
            if not _conditional_check_failed(err):
                raise
        existing = self.get(message_id)
        return existing.status if existing is not None else OutboxStatus.PENDING

    def claim(
        self, message_id: str, body: str, owner: str, lease_seconds: int, now: float | None = None
    ) -> Claim:
        """Take the lease on the message for `owner`, creating its row if it has none.

        The same owner may renew a lease it still holds (a step retried after an outage);
        once the lease has run out the row belongs to the drain.
        """
        now = epoch_now() if now is None else now
        until = int(now) + lease_seconds
        try:
            self.table.put_item(
                # In the pending index from the start: should the step die holding the
                # lease, the drain sees the row once the lease has run out.
                Item=_pending_row(message_id, body)
                | {"lease_owner": owner, "lease_expires": until},
                ConditionExpression="attribute_not_exists(message_id)",
            )
            return Claim.CLAIMED
        except Exception as error:
            if not _conditional_check_failed(error):
                raise
        try:
            self.table.update_item(
                Key={"message_id": message_id},
                UpdateExpression="SET lease_expires = :until",
                ConditionExpression=(
                    "#status = :pending AND lease_owner = :owner AND lease_expires > :now"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":until": until,
                    ":pending": OutboxStatus.PENDING.value,
                    ":owner": owner,
                    ":now": int(now),
                },
            )
            return Claim.CLAIMED
        except Exception as error:
            if not _conditional_check_failed(error):
                raise
        existing = self.get(message_id)
        if existing is not None and existing.status is OutboxStatus.SENT:
            return Claim.SENT
        if existing is not None and existing.status is OutboxStatus.DEAD:
            return Claim.DEAD
        return Claim.TAKEN

    def release(self, message_id: str, owner: str) -> None:
        """Give up `owner`'s lease once no attempt of it can be running: the next drain may
        publish the message without waiting for the lease to run out."""
        try:
            self.table.update_item(
                Key={"message_id": message_id},
                UpdateExpression="REMOVE lease_owner, lease_expires",
                ConditionExpression="lease_owner = :owner",
                ExpressionAttributeValues={":owner": owner},
            )
        except Exception as error:
            if not _conditional_check_failed(error):
                raise

    def mark_sent(self, message_id: str, owner: str) -> bool:
        """The broker confirmed it; False if `owner` had lost the lease (a copy may have gone)."""
        old = self.table.update_item(
            Key={"message_id": message_id},
            UpdateExpression=(
                "SET #status = :sent, published_at = :now "
                "REMOVE body, pending, lease_owner, lease_expires"
            ),
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":sent": OutboxStatus.SENT.value, ":now": utc_now()},
            ReturnValues="ALL_OLD",
        ).get("Attributes", {})
        return bool(old.get("lease_owner") == owner and old.get("status") != "SENT")

    def mark_dead(self, message_id: str, reason: str) -> None:
        """The broker refused it, or cannot take it as configured: out of the queue, kept."""
        try:
            self.table.update_item(
                Key={"message_id": message_id},
                UpdateExpression=(
                    "SET #status = :dead, dead_at = :now, last_error = :error, "
                    "attempts = if_not_exists(attempts, :zero) + :one "
                    "REMOVE pending, lease_owner, lease_expires"
                ),
                # A message the broker confirmed once stays SENT whatever happens after.
                ConditionExpression="#status <> :sent",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":dead": OutboxStatus.DEAD.value,
                    ":sent": OutboxStatus.SENT.value,
                    ":now": utc_now(),
                    ":error": reason[:1000],
                    ":zero": 0,
                    ":one": 1,
                },
            )
        except Exception as error:
            if not _conditional_check_failed(error):
                raise

    def record_failure(self, message_id: str, error: str) -> None:
        """The broker was unreachable: the row stays PENDING, however long the outage lasts."""
        self.table.update_item(
            Key={"message_id": message_id},
            UpdateExpression=(
                "SET attempts = if_not_exists(attempts, :zero) + :one, last_error = :error"
            ),
            ExpressionAttributeValues={":zero": 0, ":one": 1, ":error": error[:1000]},
        )

    def requeue(self, message_id: str) -> bool:
        """Ops, once the broker is fixed: a DEAD message goes back to PENDING."""
        existing = self.get(message_id)
        if existing is None or existing.status is not OutboxStatus.DEAD:
            return False
        try:
            self.table.update_item(
                Key={"message_id": message_id},
                # Back in the pending index under its first created_at: the age the
                # PENDING-too-long alarm sees is how long billing has waited for it.
                UpdateExpression="SET #status = :pending, pending = :key, requeued_at = :now",
                ConditionExpression="#status = :dead AND attribute_exists(body)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":pending": OutboxStatus.PENDING.value,
                    ":key": pending_key(existing.created_at or utc_now(), message_id),
                    ":dead": OutboxStatus.DEAD.value,
                    ":now": utc_now(),
                },
            )
            return True
        except Exception as error:
            if not _conditional_check_failed(error):
                raise
            return False

    def get(self, message_id: str) -> OutboxEntry | None:
        item = self.table.get_item(Key={"message_id": message_id}, ConsistentRead=True).get("Item")
        return _entry(item) if item is not None else None

    # -- the drain ------------------------------------------------------------------------
    def pending(self, limit: int) -> list[OutboxEntry]:
        """Up to `limit` PENDING rows the drain may publish now (none leased to a step)."""
        entries: list[OutboxEntry] = []
        for page in self.pending_pages(limit):
            entries.extend(page.entries)
            if len(entries) >= limit:
                break
        return entries[:limit]

    def pending_pages(self, page_size: int, now: float | None = None) -> Iterator[PendingPage]:
        """PENDING rows, a page at a time: a Scan of the sparse pending index.

        The index holds only PENDING rows, so the Scan reads nothing else however many SENT
        rows the table keeps (a Query of a status index would too, but on one hot key).
        Eventually consistent, as any index: a row marked SENT in the last moments (a run
        is 2 minutes after the last) could still show, and billing drops that copy by
        message_id. Asked for: the body and `pending` (created_at and id) only, straight
        through the low-level client; rows leased to a publish step are filtered out by
        DynamoDB and only counted.
        """
        client, name = _client_and_name(self.table)
        cutoff = int(epoch_now() if now is None else now) - LEASE_SKEW_SECONDS
        scan: dict[str, Any] = {
            "TableName": name,
            "IndexName": OUTBOX_PENDING_INDEX,
            "ProjectionExpression": "pending, body",
            # The same test as OutboxEntry.leased: held until LEASE_SKEW_SECONDS past expiry.
            "FilterExpression": "attribute_not_exists(lease_expires) OR lease_expires <= :cutoff",
            "ExpressionAttributeValues": {":cutoff": {"N": str(cutoff)}},
            "Limit": page_size,
        }
        while True:
            response = client.scan(**scan)
            items = response.get("Items", [])
            held = int(response.get("ScannedCount", len(items))) - len(items)
            if items or held:
                yield PendingPage([_pending_entry(item) for item in items], held)
            if "LastEvaluatedKey" not in response:
                return
            scan["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def mark_sent_many(self, entries: Sequence[OutboxEntry]) -> None:
        """What the drain published: batched writes, safe because the drain lock is held.

        Only the drain-lock holder publishes unleased PENDING rows, and a step never takes
        back a lease that has run out, so nobody else writes these rows meanwhile. Each row
        is written whole, as a SENT row without `pending` (so it leaves the pending index):
        a PutRequest in a BatchWriteItem, 25 a call, where an UpdateItem would be a call each.
        """
        client, name = _client_and_name(self.table)
        now = {"S": utc_now()}
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        "message_id": {"S": entry.message_id},
                        "status": {"S": OutboxStatus.SENT.value},
                        "created_at": {"S": entry.created_at} if entry.created_at else now,
                        "published_at": now,
                    }
                }
            }
            for entry in entries
        ]
        for start in range(0, len(requests), BATCH_WRITE_LIMIT):
            _batch_write(client, name, requests[start : start + BATCH_WRITE_LIMIT])

    def acquire_drain_lock(self, owner: str, until: int, now: float | None = None) -> bool:
        """One drain at a time: False while another run's lease has not run out."""
        try:
            self.table.put_item(
                Item={
                    "message_id": OUTBOX_DRAIN_LOCK,
                    "lease_owner": owner,
                    "lease_expires": until,
                    "acquired_at": utc_now(),
                },
                ConditionExpression="attribute_not_exists(message_id) OR lease_expires < :now",
                ExpressionAttributeValues={
                    ":now": int(epoch_now() if now is None else now) - LEASE_SKEW_SECONDS
                },
            )
            return True
        except Exception as error:
            if not _conditional_check_failed(error):
                raise
            return False

    def release_drain_lock(self, owner: str) -> None:
        try:
            self.table.delete_item(
                Key={"message_id": OUTBOX_DRAIN_LOCK},
                ConditionExpression="lease_owner = :owner",
                ExpressionAttributeValues={":owner": owner},
            )
        except Exception as error:
            if not _conditional_check_failed(error):
                raise
