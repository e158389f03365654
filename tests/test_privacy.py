from __future__ import annotations

from meter_reading.domain.privacy import mask_phone


def test_a_whatsapp_address_keeps_only_country_code_and_last_digits() -> None:
    assert mask_phone("whatsapp:+27821234567") == "whatsapp:+27*****4567"


def test_a_bare_number_is_masked_too() -> None:
    assert mask_phone("+27821234567") == "+27*****4567"


def test_a_short_number_is_masked_entirely() -> None:
    assert mask_phone("12345") == "*****"


def test_scrub_masks_numbers_and_drops_urls_in_error_messages() -> None:
    from meter_reading.domain.privacy import scrub

    media = "https://api.twilio.com/2010-04-01/Accounts/AC" + "0" * 32 + "/Messages/MM1/Media/ME1"
    text = (
        f"HTTP 400 error: The 'To' number whatsapp:+27821234567 is not valid; WaId 27821234567; "
        f"could not fetch {media}; HTTPSConnectionPool(host='api.twilio.com', port=443): Max "
        f"retries exceeded with url: /2010-04-01/Accounts/AC{'0' * 32}/Messages/MM1/Media/ME1 "
        "(Request ID: 7f16d3db-03f4, line 42, 2026-11-28)"
    )
    scrubbed = scrub(text)
    assert "27821234567" not in scrubbed and "/Media/ME1" not in scrubbed
    assert "whatsapp:+27*****4567" in scrubbed and "<url>" in scrubbed
    assert "<twilio resource>" in scrubbed
    assert "Request ID: 7f16d3db-03f4, line 42, 2026-11-28" in scrubbed
    assert scrub("ConditionalCheckFailedException: the conditional request failed") == (
        "ConditionalCheckFailedException: the conditional request failed"
    )
