"""DynamoDB: the readings, the confirmations we wait for, and the messages received.

The billing outbox's classes are in `meter_reading.adapters.outbox` (a webhook's cold start
does without them) and are exported from here too, as they always were.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from meter_reading.domain.records import ReadingSource, ReadingStatus

if TYPE_CHECKING:
    from meter_reading.adapters.outbox import Claim as Claim
    from meter_reading.adapters.outbox import Outbox as Outbox
    from meter_reading.adapters.outbox import OutboxEntry as OutboxEntry
    from meter_reading.adapters.outbox import OutboxWriteIncomplete as OutboxWriteIncomplete
    from meter_reading.adapters.outbox import PendingPage as PendingPage
    from meter_reading.domain.conversation import Household

#: What `meter_reading.adapters.outbox` holds, exported from here too (imported when first used).
_OUTBOX_NAMES = frozenset(
    {"Claim", "Outbox", "OutboxEntry", "OutboxWriteIncomplete", "PendingPage"}
)


def __getattr__(name: str) -> Any:
    if name in _OUTBOX_NAMES:
        from meter_reading.adapters import outbox

        return getattr(outbox, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
#: Request parameters that hold items or values (serialized), and response fields (read back).
_ITEM_PARAMETERS = ("Item", "Key", "ExclusiveStartKey")
_ITEM_RESPONSES = ("Item", "Attributes", "LastEvaluatedKey")


def to_dynamodb(item: dict[str, Any]) -> dict[str, Any]:
    """A plain item (str, Decimal, int, bool, ...) as DynamoDB's typed attribute values."""
    return {name: _SERIALIZER.serialize(value) for name, value in item.items()}


def from_dynamodb(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _DESERIALIZER.deserialize(value) for name, value in item.items()}


class DynamoTable:
    """One table through DynamoDB's low-level client, with the Table resource's calls.

    The repositories below take plain Python values, as the boto3 Table resource does; this
    does the same translation without the resource layer, whose model costs a cold start
    about 30-300 ms (the webhook's budget) and every call a pass through its handlers.
    Errors are the client's own (``ClientError`` with DynamoDB's code).

    This class and the webhook's repositories below are plain classes, and its records named
    tuples, not dataclasses: the webhook imports them at every cold start, and a dataclass
    compiles its generated methods when its class is made (about 0.3 ms each).
    """

    def __init__(self, client: Any, name: str) -> None:
        self.client = client  # botocore DynamoDB client
        self.name = name

    def _call(self, operation: str, **parameters: Any) -> dict[str, Any]:
        request: dict[str, Any] = {"TableName": self.name, **parameters}
        for key in _ITEM_PARAMETERS:
            if key in request:
                request[key] = to_dynamodb(request[key])
        if "ExpressionAttributeValues" in request:
            request["ExpressionAttributeValues"] = to_dynamodb(request["ExpressionAttributeValues"])
        response: dict[str, Any] = getattr(self.client, operation)(**request)
        for key in _ITEM_RESPONSES:
            if key in response:
                response[key] = from_dynamodb(response[key])
        if "Items" in response:
            response["Items"] = [from_dynamodb(item) for item in response["Items"]]
        return response

    def put_item(self, **parameters: Any) -> dict[str, Any]:
        return self._call("put_item", **parameters)

    def get_item(self, **parameters: Any) -> dict[str, Any]:
        return self._call("get_item", **parameters)

    def update_item(self, **parameters: Any) -> dict[str, Any]:
        return self._call("update_item", **parameters)

    def delete_item(self, **parameters: Any) -> dict[str, Any]:
        return self._call("delete_item", **parameters)

    def query(self, **parameters: Any) -> dict[str, Any]:
        return self._call("query", **parameters)

    def scan(self, **parameters: Any) -> dict[str, Any]:
        return self._call("scan", **parameters)


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


class ReadingRepository:
    def __init__(self, table: Any) -> None:
        self.table = table  # a DynamoTable, or a boto3 DynamoDB Table resource

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

    def save_unreadable(
        self,
        *,
        reading_id: str,
        sender: str,
        reason: str | None,
        confidence: Decimal,
        s3_key: str,
        photo_time: str,
        meter_type: str | None = None,
    ) -> dict[str, Any]:
        """A photo OCR could not read: no value, the reason, and the household's photo."""
        item: dict[str, Any] = {
            "reading_id": reading_id,
            "sender": sender,
            "status": ReadingStatus.UNREADABLE.value,
            "ocr_status": "unreadable",
            "ocr_confidence": confidence,
            "confirmed": False,
            "s3_key": s3_key,
            "photo_time": photo_time,
            "created_at": utc_now_precise(),
        }
        if reason:
            item["status_detail"] = reason
        if meter_type:
            item["meter_type"] = meter_type
        self.table.put_item(Item=item)
        return item

    def fail(self, reading_id: str, detail: str) -> dict[str, Any]:
        """FAILED with the error; ReadingNotFound if there is no such reading.

        The reading is made, with its household and time, from the inbound message (see
        receive): a failure updates it and never makes one up (a row without a household).
        """
        return self.set_status(reading_id, ReadingStatus.FAILED, detail=detail)

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
        return self._update_existing(
            reading_id,
            UpdateExpression=update,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def confirm(self, reading_id: str, household_reading: str | None = None) -> dict[str, Any]:
        """CONFIRMED: OCR's value (a YES), or the value the household typed (source household)."""
        if household_reading is None:
            return self.set_status(reading_id, ReadingStatus.CONFIRMED)
        now = utc_now()
        return self._update_existing(
            reading_id,
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
        )

    def receive(self, reading_id: str, photo: InboundPhoto) -> None:
        """The reading of a photo just received (RECEIVED), with its household and the time
        the photo reached us.

        Made by the execution's first step before it does anything else (and by the failure
        step if that first step never ran): every other step updates this record and none
        creates one. Made again, it changes nothing.
        """
        try:
            self.table.put_item(
                Item={
                    "reading_id": reading_id,
                    "sender": photo.sender,
                    "status": ReadingStatus.RECEIVED.value,
                    "confirmed": False,
                    "created_at": photo.received_at,
                },
                ConditionExpression="attribute_not_exists(reading_id)",
            )
        except Exception as error:
            if not _conditional_check_failed(error):
                raise

    def _update_existing(self, reading_id: str, **update: Any) -> dict[str, Any]:
        """UpdateItem on a reading that exists (ReadingNotFound otherwise): an update never
        makes up a reading without its household."""
        try:
            attributes: dict[str, Any] = self.table.update_item(
                Key={"reading_id": reading_id},
                ConditionExpression="attribute_exists(reading_id)",
                ReturnValues="ALL_NEW",
                **update,
            )["Attributes"]
        except Exception as error:
            if _conditional_check_failed(error):
                raise ReadingNotFound(f"no reading {reading_id}") from error
            raise
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


class PendingConfirmation(NamedTuple):
    sender: str
    reading_id: str
    task_token: str
    reading_text: str = ""
    unit: str = ""


class ConfirmationRepository:
    """One conversation per household: its newest photo, and the question its answer resumes.

    The item is keyed by sender. ``latest_reading_id`` is the newest photo the household
    sent; ``reading_id``/``task_token`` the open question, which may only be asked about
    that newest photo (a conditional write, so a newer photo and the question about an
    older one cannot both win).
    """

    def __init__(self, table: Any) -> None:
        self.table = table

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
        # Here, not at the top: the webhook's photos never need it, and its dataclasses are a
        # few ms of a cold start.
        from meter_reading.domain.conversation import Household, Question

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


class InboundMessage(NamedTuple):
    message_sid: str
    sender: str
    state: str  # PROCESSING until acted on, then DONE
    reply: str | None  # the text our TwiML answer carried (None: no text)


class InboundPhoto(NamedTuple):
    sender: str
    received_at: str  # utc_now_precise() when the webhook took the message
    url: str  # Twilio's media URL
    content_type: str  # as Twilio declared it


class InboundMessages:
    """Every message a household sent us, keyed by Twilio's MessageSid: acted on at most once.

    The first delivery claims the sid with a conditional write; a retried or replayed
    delivery finds the claim and gets the first delivery's answer, acting on nothing.
    Executions carry the sid; the sender's number stays here, not in execution history.
    """

    def __init__(self, table: Any) -> None:
        self.table = table

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

    def photo(self, message_sid: str) -> InboundPhoto:
        """The photo this message carried, who sent it and when it reached us."""
        item = self.table.get_item(Key={"message_sid": message_sid}, ConsistentRead=True).get(
            "Item"
        )
        if item is None or not item.get("photo_url"):
            raise UnknownMessage(f"no photo in inbound message {message_sid}")
        return InboundPhoto(
            sender=str(item["sender"]),
            received_at=str(item["received_at"]),
            url=str(item["photo_url"]),
            content_type=str(item.get("photo_content_type", "")),
        )


class UnknownMessage(Exception):
    pass


class ReadingNotFound(Exception):
    """No reading under this id: it is never created by an update."""


#: The one outbox item that is not a message: the lease of the drain run that is publishing.
#: It has no `pending` attribute, so it never shows in the pending index.
OUTBOX_DRAIN_LOCK = "#outbox-drain-lock"
#: The outbox's sparse index: only rows waiting for the broker carry its key, `pending`.
OUTBOX_PENDING_INDEX = "pending-index"
#: A lease counts as held this long past its expiry, in case clocks differ between Lambdas.
LEASE_SKEW_SECONDS = 30


def epoch_now() -> float:
    return time.time()


#: BatchWriteItem's limit of requests per call.
BATCH_WRITE_LIMIT = 25
#: Unprocessed writes (throttling) are sent again this many times, backing off, before failing.
BATCH_WRITE_ATTEMPTS = 8


def pending_key(created_at: str, message_id: str) -> str:
    """The `pending` attribute of a row waiting for the broker: its created_at and its id.

    Only PENDING rows carry it, so the pending index holds nothing else (the drain never
    reads past what it has to send), and it is all the drain reads besides the body. Unique
    per row, so the index's writes spread over its partitions.
    """
    return f"{created_at}#{message_id}"
