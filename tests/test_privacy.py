from __future__ import annotations

from meter_reading.domain.privacy import mask_phone


def test_a_whatsapp_address_keeps_only_country_code_and_last_digits() -> None:
    assert mask_phone("whatsapp:+27821234567") == "whatsapp:+27*****4567"


def test_a_bare_number_is_masked_too() -> None:
    assert mask_phone("+27821234567") == "+27*****4567"


def test_a_short_number_is_masked_entirely() -> None:
    assert mask_phone("12345") == "*****"
