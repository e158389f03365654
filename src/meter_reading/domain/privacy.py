"""Phone numbers are personal data: logs only ever see them masked."""

from __future__ import annotations


def mask_phone(address: str) -> str:
    """'whatsapp:+27821234567' -> 'whatsapp:+27*****4567': enough to tell users apart in logs."""
    prefix, _, number = address.rpartition(":")
    digit_positions = [i for i, ch in enumerate(number) if ch.isdigit()]
    hidden = set(digit_positions[2:-4]) if len(digit_positions) > 6 else set(digit_positions)
    masked = "".join("*" if i in hidden else ch for i, ch in enumerate(number))
    return f"{prefix}:{masked}" if prefix else masked
