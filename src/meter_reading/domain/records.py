"""The reading record as ops see it in DynamoDB, and its life cycle."""

from __future__ import annotations

from enum import StrEnum


class ReadingStatus(StrEnum):
    AWAITING_CONFIRMATION = "AWAITING_CONFIRMATION"
    CONFIRMED = "CONFIRMED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    UNREADABLE = "UNREADABLE"
    FAILED = "FAILED"


class OutboxStatus(StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    # The broker refused it again and again: out of the retry queue, kept for ops to look at.
    REFUSED = "REFUSED"
