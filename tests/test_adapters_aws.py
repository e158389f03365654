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
    Outbox,
    PendingConfirmation,
    ReadingRepository,
)
from meter_reading.domain.records import OutboxStatus, ReadingStatus


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


def _table(name: str, key: str, status_index: bool = False) -> Any:
    attributes: list[Any] = [{"AttributeName": key, "AttributeType": "S"}]
    extra: dict[str, Any] = {}
    if status_index:
        attributes.append({"AttributeName": "status", "AttributeType": "S"})
        extra["GlobalSecondaryIndexes"] = [
            {
                "IndexName": "status-index",
                "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ]
    return boto3.resource("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=attributes,
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )


def test_a_reading_goes_from_raw_to_confirmed(aws: None) -> None:
    from decimal import Decimal

    readings = ReadingRepository(_table("readings", "reading_id"))
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


def test_a_pending_question_is_only_cleared_by_its_own_reading(aws: None) -> None:
    confirmations = ConfirmationRepository(_table("confirmations", "sender"))
    sender = "whatsapp:+27821234567"
    confirmations.put(PendingConfirmation(sender, "MM2", "token-2"), expires_at_epoch=2_000_000_000)

    confirmations.clear(sender, "MM1")  # an older reading's clean-up
    assert confirmations.get(sender) == PendingConfirmation(sender, "MM2", "token-2")
    confirmations.clear(sender, "MM2")
    assert confirmations.get(sender) is None


def test_the_outbox_sends_once_and_never_resets_a_sent_message(aws: None) -> None:
    outbox = Outbox(_table("outbox", "message_id", status_index=True))
    outbox.add("MM3", '{"a": 1}', error="BrokerUnavailable")
    assert [e.message_id for e in outbox.pending(limit=10)] == ["MM3"]

    outbox.mark_sent("MM3")
    outbox.add("MM3", '{"a": 1}', error="replayed catch")
    entry = outbox.get("MM3")
    assert entry is not None and entry.status is OutboxStatus.SENT
    assert outbox.pending(limit=10) == []
    with pytest.raises(Exception, match="ConditionalCheckFailed"):
        outbox.mark_sent("MM3")


def test_a_message_the_broker_keeps_refusing_leaves_the_retry_queue(aws: None) -> None:
    outbox = Outbox(_table("outbox", "message_id", status_index=True))
    outbox.add("MM6", "{}", error="PublishNotConfirmed")
    outbox.record_failure("MM6", "BrokerUnavailable")  # outages never count as refusals

    statuses = [outbox.record_refusal("MM6", "unroutable", max_refusals=3) for _ in range(3)]

    assert statuses == [OutboxStatus.PENDING, OutboxStatus.PENDING, OutboxStatus.REFUSED]
    assert outbox.pending(limit=10) == []
    entry = outbox.get("MM6")
    assert entry is not None and entry.status is OutboxStatus.REFUSED


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
