"""Builds the adapters a handler needs, once per Lambda container.

Handlers call these factories; domain code and adapters never read the
environment themselves. ``reset()`` lets the local runtime start afresh.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import boto3

from meter_reading.settings import Settings, settings

if TYPE_CHECKING:
    from meter_reading.adapters.broker import BillingPublisher
    from meter_reading.adapters.media import MediaFetcher
    from meter_reading.adapters.storage import PhotoLinks, PhotoStore
    from meter_reading.adapters.tables import (
        ConfirmationRepository,
        DynamoTable,
        InboundMessages,
        Outbox,
        ReadingRepository,
    )
    from meter_reading.adapters.textract import TextDetection, TextDetectionWaits
    from meter_reading.adapters.twilio_api import WhatsAppSender
    from meter_reading.reader.display import DisplayReader


def secret(parameter_name: str) -> str:
    port = settings().parameters_extension_port
    if port is not None:
        # Through the extension's cache (5 minutes, as below): no SSM client, whose service
        # model was the largest part of the webhook's cold start.
        from meter_reading.adapters.parameters_extension import get_parameter

        return get_parameter(parameter_name, port)
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    if "ssm" not in DEFAULT_PROVIDERS:
        # Powertools' own default provider builds a boto3 session of its own (about 100 ms
        # of a cold start); a client of the default session reuses what the other clients
        # loaded. `parameters.clear_caches()` drops it, and the next call makes it anew.
        DEFAULT_PROVIDERS["ssm"] = parameters.SSMProvider(boto3_client=boto3.client("ssm"))
    value = parameters.get_parameter(parameter_name, decrypt=True, max_age=300)
    return str(value)


@cache
def _dynamodb() -> Any:
    return boto3.resource("dynamodb")


@cache
def _dynamodb_client() -> Any:
    # The webhook's tables and the outbox go through the low-level client: building the
    # resource's model is a good part of a cold start, and the drain reads thousands of rows.
    return boto3.client("dynamodb")


def _table(setting: str) -> DynamoTable:
    from meter_reading.adapters.tables import DynamoTable

    return DynamoTable(_dynamodb_client(), settings().require(setting))


@cache
def _s3() -> Any:
    return boto3.client("s3")


@cache
def readings() -> ReadingRepository:
    from meter_reading.adapters.tables import ReadingRepository

    return ReadingRepository(_table("readings_table"))


@cache
def confirmations() -> ConfirmationRepository:
    from meter_reading.adapters.tables import ConfirmationRepository

    return ConfirmationRepository(_table("confirmations_table"))


@cache
def inbound() -> InboundMessages:
    from meter_reading.adapters.tables import InboundMessages

    return InboundMessages(_table("inbound_table"))


@cache
def outbox() -> Outbox:
    from meter_reading.adapters.tables import Outbox

    return Outbox(_table("outbox_table"))


@cache
def photo_store() -> PhotoStore:
    from meter_reading.adapters.storage import PhotoStore

    return PhotoStore(_s3(), settings().require("photo_bucket"))


@cache
def photo_links() -> PhotoLinks:
    from meter_reading.adapters.storage import CloudFrontPhotoLinks, PresignedPhotoLinks

    config = settings()
    if config.cloudfront_domain:
        return CloudFrontPhotoLinks(
            domain=config.cloudfront_domain,
            key_pair_id=config.require("cloudfront_key_pair_id"),
            private_key_pem=secret(config.require("cloudfront_private_key_parameter")).encode(),
            expires_in_seconds=config.photo_link_ttl_seconds,
        )
    return PresignedPhotoLinks(_s3(), config.require("photo_bucket"), config.photo_link_ttl_seconds)


@cache
def text_detection() -> TextDetection:
    from meter_reading.adapters.textract import NotificationChannel, TextDetection

    config = settings()
    channel = None
    if config.text_detection_topic_arn:
        channel = NotificationChannel(
            config.text_detection_topic_arn, config.require("text_detection_role_arn")
        )
    return TextDetection(boto3.client("textract"), channel)


@cache
def text_detection_waits() -> TextDetectionWaits:
    from meter_reading.adapters.textract import TextDetectionWaits

    return TextDetectionWaits(_dynamodb().Table(settings().require("text_detection_waits_table")))


@cache
def display_reader() -> DisplayReader:
    from meter_reading.reader.display import DisplayReader
    from meter_reading.reader.meter import recognizer, text_recognizer

    return DisplayReader(recognizer(), text_detection().detect, text_recognizer())


@cache
def step_functions() -> Any:
    return boto3.client("stepfunctions")


def twilio_auth_token() -> str:
    return secret(settings().require("twilio_auth_token_parameter"))


@cache
def whatsapp() -> WhatsAppSender:
    from meter_reading.adapters.twilio_api import WhatsAppSender, twilio_client

    config = settings()
    client = twilio_client(
        config.require("twilio_account_sid"), twilio_auth_token(), config.twilio_api_base_url
    )
    return WhatsAppSender(client, config.require("twilio_whatsapp_from"))


@cache
def media_fetcher() -> MediaFetcher:
    from meter_reading.adapters.media import TWILIO_MEDIA_HOSTS, MediaFetcher

    config = settings()
    return MediaFetcher(
        account_sid=config.require("twilio_account_sid"),
        auth_token=twilio_auth_token(),
        allowed_hosts=config.twilio_media_hosts or TWILIO_MEDIA_HOSTS,
    )


def billing_publisher() -> BillingPublisher:
    # Not cached: the broker URL is a secret that may be rotated while containers live.
    from meter_reading.adapters.broker import BillingPublisher

    config = settings()
    return BillingPublisher(secret(config.require("amqp_url_parameter")), config.billing_exchange)


def current_settings() -> Settings:
    return settings()


def reset() -> None:
    """Forget every client and setting (the local runtime starts each run afresh)."""
    from aws_lambda_powertools.utilities import parameters

    for factory in (
        settings,
        _dynamodb,
        _dynamodb_client,
        _s3,
        readings,
        confirmations,
        inbound,
        outbox,
        photo_store,
        photo_links,
        text_detection,
        text_detection_waits,
        step_functions,
        whatsapp,
        media_fetcher,
    ):
        factory.cache_clear()
    parameters.clear_caches()  # type: ignore[no-untyped-call]
