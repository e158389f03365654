"""DynamoDB: the readings, the confirmations we wait for, and the billing outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from meter_reading.domain.conversation import Household, Question
from meter_reading.domain.records import OutboxStatus, ReadingSource, ReadingStatus


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _conditional_check_failed(error: Exception) -> bool:
    response = getattr(error, "response", {})
    return bool(response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


#: The readings table's index by household and time (newest first when queried backwards).
READINGS_BY_SENDER_INDEX = "sender-created-index"


def utc_now_precise() -> str:
    """Sortable to the millisecond: the readings index orders a household's readings by it."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


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
        meter_type: str = "unknown",
        problem: str | None = None,
        created_at: str | None = None,
    ) -> dict[str, Any]:
        item: dict[str, Any] = {
            "reading_id": reading_id,
            "sender": sender,
            # What billing gets: OCR's value until the household types its own.
            "reading": Decimal(reading_text),
            "reading_text": reading_text,
            "source": ReadingSource.OCR.value,
            # What OCR read, kept for audit whatever the household answers.
            "ocr_reading": Decimal(reading_text),
            "ocr_reading_text": reading_text,
            "unit": unit,
            "meter_type": meter_type,
            "ocr_confidence": confidence,
            "ocr_status": ocr_status,
            "confirmed": False,
            "s3_key": s3_key,
            "photo_time": photo_time,
            "created_at": created_at or utc_now_precise(),
            "status": ReadingStatus.AWAITING_CONFIRMATION.value,
        }
        if problem:
            item["plausibility_problem"] = problem
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

    def confirm(self, reading_id: str, household_reading: str | None = None) -> dict[str, Any]:
        """CONFIRMED: OCR's value (a YES), or the value the household typed (source household)."""
        if household_reading is None:
            return self.set_status(reading_id, ReadingStatus.CONFIRMED)
        now = utc_now()
        attributes: dict[str, Any] = self.table.update_item(
            Key={"reading_id": reading_id},
            UpdateExpression=(
                "SET #status = :status, updated_at = :now, confirmed = :true, "
                "confirmed_at = :now, reading = :reading, reading_text = :text, #source = :source"
            ),
            ExpressionAttributeNames={"#status": "status", "#source": "source"},
            ExpressionAttributeValues={
                ":status": ReadingStatus.CONFIRMED.value,
                ":now": now,
                ":true": True,
                ":reading": Decimal(household_reading),
                ":text": household_reading,
                ":source": ReadingSource.HOUSEHOLD.value,
            },
            ReturnValues="ALL_NEW",
        )["Attributes"]
        return attributes

    def recent(
        self, sender: str, limit: int, status: ReadingStatus | None = None
    ) -> list[dict[str, Any]]:
        """The household's newest readings (with `status` only, if given), newest first."""
        found: list[dict[str, Any]] = []
        query: dict[str, Any] = {
            "IndexName": READINGS_BY_SENDER_INDEX,
            "KeyConditionExpression": "sender = :sender",
            "ExpressionAttributeValues": {":sender": sender},
            "ScanIndexForward": False,
        }
        if status is not None:
            query["FilterExpression"] = "#status = :status"
            query["ExpressionAttributeNames"] = {"#status": "status"}
            query["ExpressionAttributeValues"][":status"] = status.value
        while len(found) < limit:
            response = self.table.query(**query)
            found.extend(response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                break
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return found[:limit]


@dataclass(frozen=True)
class PendingConfirmation:
    sender: str
    reading_id: str
    task_token: str
    reading_text: str = ""
    unit: str = ""


@dataclass
class ConfirmationRepository:
    """One conversation per household: its newest photo, and the question its answer resumes.

    The item is keyed by sender. ``latest_reading_id`` is the newest photo the household
    sent; ``reading_id``/``task_token`` the open question, which may only be asked about
    that newest photo (a conditional write, so a newer photo and the question about an
    older one cannot both win).
    """

    table: Any

    def note_photo(
        self, sender: str, reading_id: str, expires_at_epoch: int
    ) -> PendingConfirmation | None:
        """Record the newest photo; returns the open question it replaces, if any."""
        old = self.table.update_item(
            Key={"sender": sender},
            UpdateExpression=(
                "SET latest_reading_id = :reading_id, latest_photo_at = :now, expires_at = :expires"
            ),
            ExpressionAttributeValues={
                ":reading_id": reading_id,
                ":now": utc_now(),
                ":expires": expires_at_epoch,
            },
            ReturnValues="ALL_OLD",
        ).get("Attributes")
        if not old or "task_token" not in old or old.get("reading_id") == reading_id:
            return None
        return _pending(old)

    def ask(self, pending: PendingConfirmation, expires_at_epoch: int) -> None:
        """Open the question about `pending.reading_id`; ReadingSuperseded if a newer photo came."""
        try:
            self.table.update_item(
                Key={"sender": pending.sender},
                UpdateExpression=(
                    "SET reading_id = :reading_id, task_token = :token, reading_text = :text, "
                    "#unit = :unit, asked_at = :now, expires_at = :expires, "
                    "asked_reading_id = :reading_id"
                ),
                # An execution started by hand has no photo noted: it may ask.
                ConditionExpression=(
                    "attribute_not_exists(latest_reading_id) OR latest_reading_id = :reading_id"
                ),
                ExpressionAttributeNames={"#unit": "unit"},
                ExpressionAttributeValues={
                    ":reading_id": pending.reading_id,
                    ":token": pending.task_token,
                    ":text": pending.reading_text,
                    ":unit": pending.unit,
                    ":now": utc_now(),
                    ":expires": expires_at_epoch,
                },
            )
        except Exception as error:
            if _conditional_check_failed(error):
                raise ReadingSuperseded(
                    f"reading {pending.reading_id} was superseded by a newer photo"
                ) from error
            raise

    def get(self, sender: str) -> PendingConfirmation | None:
        """The open question, if any."""
        item = self.table.get_item(Key={"sender": sender}, ConsistentRead=True).get("Item")
        if item is None or "task_token" not in item:
            return None
        return _pending(item)

    def household(self, sender: str) -> tuple[Household, PendingConfirmation | None]:
        """The conversation as the domain sees it, and the open question's task token."""
        item = self.table.get_item(Key={"sender": sender}, ConsistentRead=True).get("Item")
        if item is None:
            return Household(latest_photo_id=None, question=None), None
        pending = _pending(item) if "task_token" in item else None
        question = (
            Question(pending.reading_id, pending.reading_text, pending.unit) if pending else None
        )
        return (
            Household(item.get("latest_reading_id"), question, item.get("asked_reading_id")),
            pending,
        )

    def clear(self, sender: str, reading_id: str) -> None:
        """Close the question, unless a newer photo from the same sender already replaced it."""
        try:
            self.table.update_item(
                Key={"sender": sender},
                UpdateExpression="REMOVE reading_id, task_token, reading_text, #unit, asked_at",
                ConditionExpression="reading_id = :reading_id",
                ExpressionAttributeNames={"#unit": "unit"},
                ExpressionAttributeValues={":reading_id": reading_id},
            )
        except Exception as error:
            if not _conditional_check_failed(error):
                raise


def _pending(item: dict[str, Any]) -> PendingConfirmation:
    return PendingConfirmation(
        sender=item["sender"],
        reading_id=item["reading_id"],
        task_token=item["task_token"],
        reading_text=item.get("reading_text", ""),
        unit=item.get("unit", ""),
    )


class ReadingSuperseded(Exception):
    """The household sent a newer photo before this reading was asked about.

    Its name is the error the state machine catches: keep it.
    """


@dataclass(frozen=True)
class InboundMessage:
    message_sid: str
    sender: str
    state: str  # PROCESSING until acted on, then DONE
    reply: str | None  # the text our TwiML answer carried (None: no text)


@dataclass
class InboundMessages:
    """Every message a household sent us, keyed by Twilio's MessageSid: acted on at most once.

    The first delivery claims the sid with a conditional write; a retried or replayed
    delivery finds the claim and gets the first delivery's answer, acting on nothing.
    Executions carry the sid; the sender's number stays here, not in execution history.
    """

    table: Any

    def claim(
        self, message_sid: str, sender: str, kind: str, fields: dict[str, str]
    ) -> InboundMessage | None:
        """None if this delivery may act on the message; else the earlier delivery's record."""
        try:
            self.table.put_item(
                Item={
                    "message_sid": message_sid,
                    "sender": sender,
                    "kind": kind,
                    "received_at": utc_now_precise(),
                    "state": "PROCESSING",
                    **{k: v for k, v in fields.items() if v},
                },
                ConditionExpression="attribute_not_exists(message_sid)",
            )
            return None
        except Exception as error:
            if not _conditional_check_failed(error):
                raise
        earlier = self.get(message_sid)
        assert earlier is not None
        return earlier

    def finish(self, message_sid: str, reply: str | None, outcome: str) -> None:
        values: dict[str, Any] = {":done": "DONE", ":outcome": outcome, ":now": utc_now()}
        update = "SET #state = :done, outcome = :outcome, answered_at = :now"
        if reply is not None:
            update += ", reply = :reply"
            values[":reply"] = reply
        self.table.update_item(
            Key={"message_sid": message_sid},
            UpdateExpression=update,
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues=values,
        )

    def release(self, message_sid: str) -> None:
        """Acting failed before anything was done: let Twilio's retry try again."""
        self.table.delete_item(
            Key={"message_sid": message_sid},
            ConditionExpression="#state = :processing",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={":processing": "PROCESSING"},
        )

    def get(self, message_sid: str) -> InboundMessage | None:
        item = self.table.get_item(Key={"message_sid": message_sid}, ConsistentRead=True).get(
            "Item"
        )
        if item is None:
            return None
        return InboundMessage(item["message_sid"], item["sender"], item["state"], item.get("reply"))

    def sender_of(self, message_sid: str) -> str:
        """The household that sent this message (a photo's sid is its reading's id)."""
        message = self.get(message_sid)
        if message is None:
            raise UnknownMessage(f"no inbound message {message_sid}")
        return message.sender


class UnknownMessage(Exception):
    pass


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
