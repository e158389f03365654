"""S3 and DynamoDB adapters against moto."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from moto import mock_aws

from meter_reading.adapters.storage import CloudFrontPhotoLinks, PhotoStore, PresignedPhotoLinks
from meter_reading.adapters.tables import (
    ConfirmationRepository,
    InboundMessages,
    InboundPhoto,
    PendingConfirmation,
    ReadingNotFound,
    ReadingRepository,
    ReadingSuperseded,
)
from meter_reading.domain.records import ReadingStatus
from meter_reading.local.table_definitions import keyed_table, readings_table


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


def _readings() -> Any:
    return boto3.resource("dynamodb").create_table(**readings_table("readings"))


def _table(name: str, key: str) -> Any:
    return boto3.resource("dynamodb").create_table(**keyed_table(name, key))


def test_a_reading_goes_from_raw_to_confirmed(aws: None) -> None:
    from decimal import Decimal

    readings = ReadingRepository(_readings())
    readings.save_raw(
        reading_id="MM1",
        sender="whatsapp:+27821234567",
        reading_text="03662.0",
        unit="kWh",
        confidence=Decimal("0.93"),
        ocr_status="ok",
        s3_key="photos/MM1.jpg",
        photo_time="2026-11-26T10:00:00Z",
    )
    saved = readings.get("MM1")
    assert saved is not None
    assert saved["reading"] == Decimal("3662.0") and saved["confirmed"] is False
    assert saved["status"] == "AWAITING_CONFIRMATION"

    confirmed = readings.set_status("MM1", ReadingStatus.CONFIRMED)
    assert confirmed["confirmed"] is True and "confirmed_at" in confirmed
    rejected = readings.set_status("MM1", ReadingStatus.REJECTED)
    assert rejected["confirmed"] is False


def test_a_failure_marks_the_received_reading_and_never_makes_one_up(aws: None) -> None:
    readings = ReadingRepository(_readings())
    photo = InboundPhoto("whatsapp:+27821234567", "2026-11-28T10:00:00.000+00:00", "u", "")
    readings.receive("MM1", photo)
    # A retried first step changes nothing.
    readings.receive("MM1", photo._replace(sender="whatsapp:+27829999999"))

    failed = readings.fail("MM1", "UntrustedMediaUrl: not Twilio's")
    assert failed["status"] == "FAILED" and failed["sender"] == "whatsapp:+27821234567"
    assert failed["created_at"] == "2026-11-28T10:00:00.000+00:00"
    assert failed["status_detail"] == "UntrustedMediaUrl: not Twilio's"
    with pytest.raises(ReadingNotFound):
        readings.fail("MM2", "Unknown: ")
    with pytest.raises(ReadingNotFound):
        readings.set_status("MM2", ReadingStatus.EXPIRED)
    with pytest.raises(ReadingNotFound):
        readings.confirm("MM2", household_reading="2050.9")
    assert readings.get("MM2") is None


def test_a_pending_question_is_only_cleared_by_its_own_reading(aws: None) -> None:
    confirmations = ConfirmationRepository(_table("confirmations", "sender"))
    sender = "whatsapp:+27821234567"
    confirmations.ask(PendingConfirmation(sender, "MM2", "token-2"), expires_at_epoch=2_000_000_000)

    confirmations.clear(sender, "MM1")  # an older reading's clean-up
    assert confirmations.get(sender) == PendingConfirmation(sender, "MM2", "token-2")
    confirmations.clear(sender, "MM2")
    assert confirmations.get(sender) is None


def test_a_newer_photo_replaces_the_question_and_an_older_one_cannot_ask(aws: None) -> None:
    confirmations = ConfirmationRepository(_table("confirmations", "sender"))
    sender = "whatsapp:+27821234567"
    assert confirmations.note_photo(sender, "MM1", expires_at_epoch=2_000_000_000) is None
    confirmations.ask(PendingConfirmation(sender, "MM1", "token-1"), expires_at_epoch=2_000_000_000)

    replaced = confirmations.note_photo(sender, "MM2", expires_at_epoch=2_000_000_000)
    assert replaced == PendingConfirmation(sender, "MM1", "token-1")
    household, _ = confirmations.household(sender)
    assert household.latest_photo_id == "MM2" and household.newest_photo_unanswerable()

    confirmations.note_photo(sender, "MM3", expires_at_epoch=2_000_000_000)
    with pytest.raises(ReadingSuperseded):  # MM2 was still being read when MM3 came
        confirmations.ask(
            PendingConfirmation(sender, "MM2", "token-2"), expires_at_epoch=2_000_000_000
        )


def test_an_inbound_message_is_claimed_once_and_its_answer_kept(aws: None) -> None:
    inbound = InboundMessages(_table("inbound", "message_sid"))
    sender = "whatsapp:+27821234567"
    assert inbound.claim("SM1", sender, "ReplyMessage", {"Body": "YES"}) is None
    earlier = inbound.claim("SM1", sender, "ReplyMessage", {"Body": "YES"})
    assert earlier is not None and earlier.state == "PROCESSING"
    inbound.finish("SM1", "We have no reading waiting", "answer not used")
    again = inbound.claim("SM1", sender, "ReplyMessage", {"Body": "YES"})
    assert again is not None and again.reply == "We have no reading waiting"
    assert inbound.sender_of("SM1") == sender

    assert inbound.claim("SM2", sender, "PhotoMessage", {}) is None
    inbound.release("SM2")  # acting failed: Twilio's retry may act
    assert inbound.claim("SM2", sender, "PhotoMessage", {}) is None


def test_a_households_readings_by_time_and_a_typed_correction(aws: None) -> None:
    from decimal import Decimal

    table = _readings()
    readings = ReadingRepository(table)
    sender = "whatsapp:+27821234567"
    for day, reading_id in ((1, "MM1"), (3, "MM3"), (2, "MM2")):
        readings.save_raw(
            reading_id=reading_id,
            sender=sender,
            reading_text="20509",
            unit="kWh",
            confidence=Decimal("0.93"),
            ocr_status="ok",
            s3_key=f"photos/{reading_id}.jpg",
            photo_time="2026-11-26T10:00:00Z",
            created_at=f"2026-11-0{day}T10:00:00.000+00:00",
        )
    readings.confirm("MM1")
    corrected = readings.confirm("MM2", household_reading="2050.9")
    assert corrected["reading"] == Decimal("2050.9") and corrected["source"] == "household"
    assert corrected["ocr_reading"] == Decimal("20509")  # kept for audit

    assert [r["reading_id"] for r in readings.recent(sender, 10)] == ["MM3", "MM2", "MM1"]
    confirmed = readings.recent(sender, 10, ReadingStatus.CONFIRMED)
    assert [r["reading_id"] for r in confirmed] == ["MM2", "MM1"]
    assert readings.recent("whatsapp:+27820000000", 10) == []


def test_a_stored_photo_is_reachable_through_its_presigned_link(aws: None) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="photos")
    store = PhotoStore(s3, "photos")
    store.put("photos/MM4.jpg", b"jpeg-bytes", "image/jpeg")

    link = PresignedPhotoLinks(s3, "photos", 3600).link("photos/MM4.jpg")
    assert store.get("photos/MM4.jpg") == b"jpeg-bytes"
    assert "photos/MM4.jpg" in link and "Signature=" in link and "Expires=" in link


def test_a_cloudfront_link_is_signed_with_the_key_pair() -> None:
    from botocore.signers import CloudFrontSigner  # noqa: F401  (the signer under test)
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    links = CloudFrontPhotoLinks("d111.cloudfront.net", "K2JCJMDEHXQW5F", pem, 600)
    url = links.link("photos/MM5.jpg")

    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert parts.netloc == "d111.cloudfront.net" and parts.path == "/photos/MM5.jpg"
    assert query["Key-Pair-Id"] == "K2JCJMDEHXQW5F"
    expires = int(query["Expires"])
    assert 0 < expires - datetime.now(UTC).timestamp() <= 601
    # CloudFront's canned policy, signed with SHA-1 RSA, in its URL-safe base64.
    policy = (
        '{"Statement":[{"Resource":"https://d111.cloudfront.net/photos/MM5.jpg",'
        f'"Condition":{{"DateLessThan":{{"AWS:EpochTime":{expires}}}}}}}]}}'
    )
    import base64

    signature = base64.b64decode(
        query["Signature"].replace("-", "+").replace("_", "=").replace("~", "/")
    )
    key.public_key().verify(signature, policy.encode(), padding.PKCS1v15(), hashes.SHA1())
