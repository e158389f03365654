"""DynamoDB: the readings, the confirmations we wait for, and the billing outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from meter_reading.domain.records import OutboxStatus, ReadingStatus


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _conditional_check_failed(error: Exception) -> bool:
    response = getattr(error, "response", {})
    return bool(response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


@dataclass
class ReadingRepository:
    table: Any  # boto3 DynamoDB Table resource

    def save_raw(
        self,
        *,
        reading_id: str,
        sender: str,
        reading_text: str,
        unit: str,
        confidence: Decimal,
        ocr_status: str,
        s3_key: str,
        photo_time: str,
    ) -> dict[str, Any]:
        item: dict[str, Any] = {
            "reading_id": reading_id,
            "sender": sender,
            "reading": Decimal(reading_text),
            "reading_text": reading_text,
            "unit": unit,
            "ocr_confidence": confidence,
            "ocr_status": ocr_status,
            "confirmed": False,
            "s3_key": s3_key,
            "photo_time": photo_time,
            "created_at": utc_now(),
            "status": ReadingStatus.AWAITING_CONFIRMATION.value,
        }
        self.table.put_item(Item=item)
        return item

    def get(self, reading_id: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.table.get_item(
            Key={"reading_id": reading_id}, ConsistentRead=True
        ).get("Item")
        return item

    def set_status(
        self, reading_id: str, status: ReadingStatus, detail: str | None = None
    ) -> dict[str, Any]:
        now = utc_now()
        names = {"#status": "status"}
        values: dict[str, Any] = {
            ":status": status.value,
            ":now": now,
            ":confirmed": status is ReadingStatus.CONFIRMED,
        }
        update = "SET #status = :status, updated_at = :now, confirmed = :confirmed"
        if status is ReadingStatus.CONFIRMED:
            update += ", confirmed_at = :now"
        if detail is not None:
            update += ", status_detail = :detail"
            values[":detail"] = detail
        attributes: dict[str, Any] = self.table.update_item(
            Key={"reading_id": reading_id},
            UpdateExpression=update,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )["Attributes"]
        return attributes


@dataclass(frozen=True)
class PendingConfirmation:
    sender: str
    reading_id: str
    task_token: str


@dataclass
class ConfirmationRepository:
    """One pending question per sender: the task token the YES/NO answer resumes."""

    table: Any

    def put(self, pending: PendingConfirmation, expires_at_epoch: int) -> None:
        self.table.put_item(
            Item={
                "sender": pending.sender,
                "reading_id": pending.reading_id,
                "task_token": pending.task_token,
                "created_at": utc_now(),
                # DynamoDB TTL clears questions nobody can answer any more.
                "expires_at": expires_at_epoch,
            }
        )

    def get(self, sender: str) -> PendingConfirmation | None:
        item = self.table.get_item(Key={"sender": sender}, ConsistentRead=True).get("Item")
        if item is None:
            return None
        return PendingConfirmation(
            sender=item["sender"], reading_id=item["reading_id"], task_token=item["task_token"]
        )

    def clear(self, sender: str, reading_id: str) -> None:
        """Forget the question, unless a newer photo from the same sender already replaced it."""
        try:
            self.table.delete_item(
                Key={"sender": sender},
                ConditionExpression="reading_id = :reading_id",
                ExpressionAttributeValues={":reading_id": reading_id},
            )
        except Exception as error:
            if not _conditional_check_failed(error):
                raise


@dataclass(frozen=True)
class OutboxEntry:
    message_id: str
    body: str
    status: OutboxStatus


@dataclass
class Outbox:
    """Billing messages the broker has not confirmed yet; drained by outbox_retry."""

    table: Any

    def add(self, message_id: str, body: str, error: str) -> None:
        try:
            self.table.put_item(
                Item={
                    "message_id": message_id,
                    "body": body,
                    "status": OutboxStatus.PENDING.value,
                    "created_at": utc_now(),
                    "attempts": 0,
                    "last_error": error[:1000],
                },
                # A replayed Catch must not reset a message that was already sent.
                ConditionExpression="attribute_not_exists(message_id)",
            )
        except Exception as err:
            if not _conditional_check_failed(err):
                raise

    def pending(self, limit: int) -> list[OutboxEntry]:
        response = self.table.query(
            IndexName="status-index",
            KeyConditionExpression="#status = :pending",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":pending": OutboxStatus.PENDING.value},
            Limit=limit,
        )
        return [
            OutboxEntry(item["message_id"], item["body"], OutboxStatus(item["status"]))
            for item in response.get("Items", [])
        ]

    def get(self, message_id: str) -> OutboxEntry | None:
        item = self.table.get_item(Key={"message_id": message_id}, ConsistentRead=True).get("Item")
        if item is None:
            return None
        return OutboxEntry(item["message_id"], item["body"], OutboxStatus(item["status"]))

    def mark_sent(self, message_id: str) -> None:
        self.table.update_item(
            Key={"message_id": message_id},
            UpdateExpression="SET #status = :sent, sent_at = :now",
            ConditionExpression="#status = :pending",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":sent": OutboxStatus.SENT.value,
                ":pending": OutboxStatus.PENDING.value,
                ":now": utc_now(),
            },
        )

    def record_failure(self, message_id: str, error: str) -> None:
        """The broker was unreachable: try again next run, however long the outage lasts."""
        self.table.update_item(
            Key={"message_id": message_id},
            UpdateExpression="SET attempts = attempts + :one, last_error = :error",
            ExpressionAttributeValues={":one": 1, ":error": error[:1000]},
        )

    def record_refusal(self, message_id: str, error: str, max_refusals: int) -> OutboxStatus:
        """The broker refused the message; after `max_refusals` it leaves the retry queue."""
        attributes = self.table.update_item(
            Key={"message_id": message_id},
            UpdateExpression=(
                "SET attempts = attempts + :one, last_error = :error, "
                "refusals = if_not_exists(refusals, :zero) + :one"
            ),
            ExpressionAttributeValues={":one": 1, ":zero": 0, ":error": error[:1000]},
            ReturnValues="ALL_NEW",
        )["Attributes"]
        if int(attributes["refusals"]) < max_refusals:
            return OutboxStatus.PENDING
        # Otherwise these would stay first in the index and starve every newer message.
        self.table.update_item(
            Key={"message_id": message_id},
            UpdateExpression="SET #status = :refused",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":refused": OutboxStatus.REFUSED.value},
        )
        return OutboxStatus.REFUSED
