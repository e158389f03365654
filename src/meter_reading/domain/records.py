"""The reading record as ops see it in DynamoDB, and its life cycle."""

from __future__ import annotations

from enum import StrEnum


class ReadingStatus(StrEnum):
    # The photo is in and being read (made by the execution's first step from the message).
    RECEIVED = "RECEIVED"
    AWAITING_CONFIRMATION = "AWAITING_CONFIRMATION"
    CONFIRMED = "CONFIRMED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    UNREADABLE = "UNREADABLE"
    FAILED = "FAILED"
    # The household sent a newer photo before answering: only the newest one is asked about.
    SUPERSEDED = "SUPERSEDED"
    # The photo itself can never be used (too large, not an image, not from Twilio): the
    # household was told what to send instead.
    REFUSED = "REFUSED"


class ReadingSource(StrEnum):
    """Who gave the value billing gets: our OCR (confirmed by YES) or the household (typed)."""

    OCR = "ocr"
    HOUSEHOLD = "household"


class OutboxStatus(StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    # The broker refused it (nack, unroutable) or cannot take it as configured: out of the
    # retry queue, never deleted, and an alarm raised; ops requeue it once the cause is fixed.
    DEAD = "DEAD"
