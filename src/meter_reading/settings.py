"""Typed configuration from the Lambda environment, read once per cold start.

Secrets never sit in the environment: it holds the names of SSM SecureString
parameters, resolved at run time through the Parameters and Secrets Lambda Extension where
a function has it (the webhook), else through Powertools' cached parameter provider.
"""

from __future__ import annotations

import os
from functools import cache
from typing import NamedTuple

DEFAULT_CONFIRMATION_TIMEOUT_SECONDS = 23 * 60 * 60  # inside WhatsApp's 24-hour reply window


class MissingSetting(Exception):
    pass


def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise MissingSetting(f"environment variable {name} is not set")
    return value


def _optional(name: str) -> str | None:
    return os.environ.get(name) or None


def _optional_int(name: str) -> int | None:
    value = _optional(name)
    return int(value) if value is not None else None


class Settings(NamedTuple):
    """A named tuple, not a frozen dataclass: as immutable, and made in 0.4 ms of a cold
    start instead of 1.3 (a dataclass compiles its generated methods when its class is made)."""

    readings_table: str
    confirmations_table: str
    inbound_table: str
    outbox_table: str
    photo_bucket: str
    state_machine_arn: str
    twilio_account_sid: str
    twilio_auth_token_parameter: str
    twilio_whatsapp_from: str
    twilio_api_base_url: str | None
    twilio_media_hosts: tuple[str, ...] | None
    amqp_url_parameter: str
    billing_exchange: str
    photo_link_ttl_seconds: int
    cloudfront_domain: str | None
    cloudfront_key_pair_id: str | None
    cloudfront_private_key_parameter: str | None
    confirmation_timeout_seconds: int
    text_detection_waits_table: str = ""
    text_detection_topic_arn: str | None = None  # where Textract announces a finished job
    text_detection_role_arn: str | None = None  # the role Textract publishes there as
    # The AWS Parameters and Secrets Lambda Extension's port, where a function has its layer
    # (the webhook); elsewhere parameters are read with an SSM client.
    parameters_extension_port: int | None = None

    @classmethod
    def from_env(cls) -> Settings:
        hosts = _optional("TWILIO_MEDIA_HOSTS")
        return cls(
            readings_table=os.environ.get("READINGS_TABLE", ""),
            confirmations_table=os.environ.get("CONFIRMATIONS_TABLE", ""),
            inbound_table=os.environ.get("INBOUND_TABLE", ""),
            outbox_table=os.environ.get("OUTBOX_TABLE", ""),
            photo_bucket=os.environ.get("PHOTO_BUCKET", ""),
            state_machine_arn=os.environ.get("STATE_MACHINE_ARN", ""),
            twilio_account_sid=os.environ.get("TWILIO_ACCOUNT_SID", ""),
            twilio_auth_token_parameter=os.environ.get("TWILIO_AUTH_TOKEN_PARAMETER", ""),
            twilio_whatsapp_from=os.environ.get("TWILIO_WHATSAPP_FROM", ""),
            twilio_api_base_url=_optional("TWILIO_API_BASE_URL"),
            twilio_media_hosts=tuple(h.strip() for h in hosts.split(",")) if hosts else None,
            amqp_url_parameter=os.environ.get("AMQP_URL_PARAMETER", ""),
            billing_exchange=os.environ.get("BILLING_EXCHANGE", "meter-readings"),
            photo_link_ttl_seconds=int(os.environ.get("PHOTO_LINK_TTL_SECONDS", "86400")),
            cloudfront_domain=_optional("CLOUDFRONT_DOMAIN"),
            cloudfront_key_pair_id=_optional("CLOUDFRONT_KEY_PAIR_ID"),
            cloudfront_private_key_parameter=_optional("CLOUDFRONT_PRIVATE_KEY_PARAMETER"),
            confirmation_timeout_seconds=int(
                os.environ.get(
                    "CONFIRMATION_TIMEOUT_SECONDS", str(DEFAULT_CONFIRMATION_TIMEOUT_SECONDS)
                )
            ),
            text_detection_waits_table=os.environ.get("TEXT_DETECTION_WAITS_TABLE", ""),
            text_detection_topic_arn=_optional("TEXT_DETECTION_TOPIC_ARN"),
            text_detection_role_arn=_optional("TEXT_DETECTION_ROLE_ARN"),
            parameters_extension_port=_optional_int("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"),
        )

    def require(self, name: str) -> str:
        value = getattr(self, name)
        if not value:
            raise MissingSetting(f"setting {name} is not configured for this function")
        return str(value)


@cache
def settings() -> Settings:
    return Settings.from_env()
