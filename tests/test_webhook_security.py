from __future__ import annotations

from twilio.request_validator import RequestValidator

from meter_reading.adapters.webhook_security import is_from_twilio, public_url

TOKEN = "test-auth-token"
FORM = {"MessageSid": "MM1", "From": "whatsapp:+27821234567", "Body": "YES"}


def test_the_url_is_rebuilt_with_stage_path_and_query() -> None:
    url = public_url(
        {"Host": "abc.execute-api.af-south-1.amazonaws.com", "X-Forwarded-Proto": "https"},
        "/Prod/webhook",
        {"tenant": ["joburg"]},
    )
    assert url == "https://abc.execute-api.af-south-1.amazonaws.com/Prod/webhook?tenant=joburg"


def test_a_signature_by_twilio_is_accepted_and_anything_else_refused() -> None:
    url = "https://abc.example/Prod/webhook"
    signature = RequestValidator(TOKEN).compute_signature(url, FORM)
    assert is_from_twilio(TOKEN, url, FORM, signature)
    assert not is_from_twilio("another-token", url, FORM, signature)
    assert not is_from_twilio(TOKEN, url + "?x=1", FORM, signature)
    assert not is_from_twilio(TOKEN, url, {**FORM, "Body": "NO"}, signature)
    assert not is_from_twilio(TOKEN, url, FORM, None)
