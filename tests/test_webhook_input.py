"""The webhook never answers 5xx to malformed input: 400 or 403 with a short reason.

The receive function runs as in AWS (moto's DynamoDB, SSM and Step Functions), but
executions are only recorded, never run: these tests are about the webhook alone. The
fuzz test throws thousands of generated API Gateway events at it, payload 1.0 and 2.0,
some signed as Twilio would sign them so that they get past the signature check.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from meter_reading.domain import messages
from meter_reading.local.runtime import ACCOUNT_SID, LocalPipeline

HOST = "abc123.execute-api.af-south-1.amazonaws.com"
STAGE_PATH = "/Prod/webhook"
HOUSEHOLD = "whatsapp:+27820000007"
FUZZ_EVENTS = 5000


class _NoOcr:
    def detect(self, image_bytes: bytes) -> list[dict[str, Any]]:
        return []


@pytest.fixture(scope="module")
def webhook() -> Iterator[LocalPipeline]:
    with LocalPipeline(run_executions=False, detector=_NoOcr(), log_level="ERROR") as pipeline:
        yield pipeline


def _invoke(pipeline: LocalPipeline, event: Any) -> dict[str, Any]:
    """The function's answer; fails the test if an exception escaped (a 502 from API Gateway)."""
    assert pipeline.lambdas is not None
    result, error = pipeline.lambdas.invoke("ReceiveFunction", event)
    assert error is None, f"{error['errorType']}: {error['errorMessage']}"
    assert isinstance(result, dict)
    return result


def _sign(pipeline: LocalPipeline, url: str, form: dict[str, str]) -> str:
    return str(RequestValidator(pipeline.auth_token).compute_signature(url, form))


def _form(body: str = "YES", **fields: str) -> dict[str, str]:
    return {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": ACCOUNT_SID,
        "From": HOUSEHOLD,
        "To": "whatsapp:+14155238886",
        "Body": body,
        "NumMedia": "0",
        **fields,
    }


def _rest_event(
    form: dict[str, str] | None, signature: str | None, *, base64_body: bool = True
) -> dict[str, Any]:
    """What a REST API (payload 1.0) hands the function for Twilio's form post."""
    raw = urlencode(form or {})
    headers = {"Host": HOST, "X-Forwarded-Proto": "https"}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return {
        "resource": "/webhook",
        "path": "/webhook",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "requestContext": {"path": STAGE_PATH, "stage": "Prod", "domainName": HOST},
        "body": base64.b64encode(raw.encode()).decode() if base64_body else raw,
        "isBase64Encoded": base64_body,
    }


def _http_api_event(form: dict[str, str], signature: str | None) -> dict[str, Any]:
    """What an HTTP API (payload 2.0) hands the function: lower-case headers, rawPath."""
    headers = {
        "host": HOST,
        "x-forwarded-proto": "https",
        "content-type": "application/x-www-form-urlencoded",
    }
    if signature is not None:
        headers["x-twilio-signature"] = signature
    return {
        "version": "2.0",
        "routeKey": "POST /webhook",
        "rawPath": "/webhook",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "domainName": HOST,
            "http": {"method": "POST", "path": "/webhook"},
            "stage": "$default",
        },
        "body": base64.b64encode(urlencode(form).encode()).decode(),
        "isBase64Encoded": True,
    }


def _signed_rest_event(pipeline: LocalPipeline, form: dict[str, str]) -> dict[str, Any]:
    return _rest_event(form, _sign(pipeline, f"https://{HOST}{STAGE_PATH}", form))


# --------------------------------------------------------------------------- the cases


def _mutated(event: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**event, **changes}


BEFORE_THE_SIGNATURE: dict[str, Any] = {
    "a body flagged base64 that is not base64": {"body": "%%%not base64%%%"},
    "base64 of bytes that are not UTF-8": {"body": base64.b64encode(b"From=\xff\xfe").decode()},
    "percent-escapes that are not UTF-8": {"body": "From=%FF%FE", "isBase64Encoded": False},
    "a lone surrogate in a plain body": {"body": "Body=\ud800", "isBase64Encoded": False},
    "a body that is not a string": {"body": 12345},
    "requestContext null": {"requestContext": None, "path": None},
    "requestContext missing": {"requestContext": None},
    "requestContext not an object": {"requestContext": "Prod"},
    "requestContext without path, no path": {"requestContext": {"stage": "Prod"}, "path": None},
    "headers null": {"headers": None},
    "a header that is not a string": {"headers": {"Host": HOST, "X-Twilio-Signature": 7}},
    "Host a:b": {"headers": {"Host": "a:b", "X-Forwarded-Proto": "https"}},
    "Host [x": {"headers": {"Host": "[x", "X-Forwarded-Proto": "https"}},
    "Host [:::]": {"headers": {"Host": "[:::]", "X-Forwarded-Proto": "https"}},
    "Host with port 99999": {"headers": {"Host": HOST + ":99999"}},
    "Host with a space": {"headers": {"Host": "evil host"}},
    "X-Forwarded-Proto ftp": {"headers": {"Host": HOST, "X-Forwarded-Proto": "ftp"}},
    "multi-value query not lists": {"multiValueQueryStringParameters": {"a": "b"}},
}


@pytest.mark.parametrize("case", sorted(BEFORE_THE_SIGNATURE))
def test_a_malformed_request_is_refused_with_a_reason_not_an_exception(
    webhook: LocalPipeline, case: str
) -> None:
    event = _mutated(_signed_rest_event(webhook, _form()), **BEFORE_THE_SIGNATURE[case])
    answer = _invoke(webhook, event)
    assert answer["statusCode"] in (400, 403), answer
    assert HOUSEHOLD not in answer["body"]
    assert len(answer["body"]) < 80


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"NumMedia": "abc"}, "NumMedia is not a small whole number"),
        ({"NumMedia": "1.5"}, "NumMedia is not a small whole number"),
        ({"NumMedia": "-1"}, "NumMedia is not a small whole number"),
        ({"NumMedia": "٣"}, "NumMedia is not a small whole number"),  # an Arabic-Indic 3
        ({"MessageSid": ""}, "MessageSid and From are required"),
        ({"From": ""}, "MessageSid and From are required"),
        ({"MessageSid": "SM1"}, "MessageSid is not a Twilio message SID"),
        ({"MessageSid": "SM" + "a" * 2000}, "MessageSid is not a Twilio message SID"),
        ({"From": "whatsapp:+2782 123"}, "From is not a phone number"),
    ],
)
def test_a_signed_but_malformed_form_is_a_400_and_acts_on_nothing(
    webhook: LocalPipeline, fields: dict[str, str], reason: str
) -> None:
    form = _form(**fields)
    answer = _invoke(webhook, _signed_rest_event(webhook, form))
    assert (answer["statusCode"], answer["body"]) == (400, reason)
    executions = {e["name"] for e in webhook.executions()}
    assert form["MessageSid"] not in executions


def test_an_unsigned_request_is_403(webhook: LocalPipeline) -> None:
    assert _invoke(webhook, _rest_event(_form(), None))["statusCode"] == 403
    assert _invoke(webhook, _rest_event(_form(), "bm90IGEgc2lnbmF0dXJl"))["statusCode"] == 403
    assert _invoke(webhook, _rest_event(_form(), "é"))["statusCode"] == 403


def test_a_plain_text_body_is_read_like_a_base64_one(webhook: LocalPipeline) -> None:
    form = _form("HELP")
    url = f"https://{HOST}{STAGE_PATH}"
    answer = _invoke(webhook, _rest_event(form, _sign(webhook, url, form), base64_body=False))
    assert answer["statusCode"] == 200 and messages.HELP.split(".")[0] in answer["body"]


def test_an_http_api_event_payload_2_is_served(webhook: LocalPipeline) -> None:
    """HTTP APIs (payload 2.0): the URL Twilio signed is the host and rawPath."""
    form = _form(
        "",
        NumMedia="1",
        MediaUrl0=f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Media/ME1",
        MediaContentType0="image/jpeg",
        MessageSid="MM" + uuid.uuid4().hex,
    )
    event = _http_api_event(form, _sign(webhook, f"https://{HOST}/webhook", form))
    answer = _invoke(webhook, event)
    assert answer["statusCode"] == 200, answer
    assert "we got your meter photo" in answer["body"]
    assert form["MessageSid"] in {e["name"] for e in webhook.executions()}
    forged = _invoke(webhook, _http_api_event(_form(), "Zm9yZ2Vk"))
    assert forged["statusCode"] == 403


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()} {record.__dict__}")


def test_refusals_are_logged_without_the_household_s_number(webhook: LocalPipeline) -> None:
    logger = logging.getLogger("meter-reading-receive")  # the Powertools logger's
    records, level = _Records(), logger.level
    logger.addHandler(records)
    logger.setLevel(logging.INFO)
    try:
        _invoke(webhook, _signed_rest_event(webhook, _form(NumMedia="abc")))
        _invoke(webhook, _mutated(_signed_rest_event(webhook, _form()), body="%%"))
        _invoke(webhook, _rest_event(_form(), "forged"))
    finally:
        logger.removeHandler(records)
        logger.setLevel(level)
    logged = "\n".join(records.lines)
    messages_logged = [line.split(" {", 1)[0] for line in records.lines]
    assert messages_logged == [
        "refused a malformed webhook request",
        "refused a malformed webhook request",
        "rejected request without a valid Twilio signature",
    ]
    assert HOUSEHOLD.removeprefix("whatsapp:+") not in logged


# --------------------------------------------------------------------------- the fuzz test

_DELETE = object()
JSON_GARBAGE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["", "\ud800", "\x00", "é", "[x", "a:b", "null", "true", "=&=&"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=5,
)
SIDS = st.uuids().map(lambda u: "SM" + u.hex) | st.uuids().map(lambda u: "MM" + u.hex)
SENDERS = st.sampled_from([HOUSEHOLD, "whatsapp:+27820000008", "+27820000009"])
BODIES = st.sampled_from(
    ["YES", "no", "ja", "2050.9", "NO 2050.9", "it is 2050,9", "HELP", "STATUS", "HISTORY", ""]
) | st.text(max_size=80)
MEDIA_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/ME1"
# What a field may be instead of what Twilio sends.
ODD_FIELDS = {
    "MessageSid": st.sampled_from(["", "SM1", "MM" + "0" * 31, "../x", "SM" + "a" * 2000])
    | st.text(max_size=40),
    "From": st.sampled_from(["", "whatsapp:", "whatsapp:+", "whatsapp:+2782 000", "+1" * 600])
    | st.text(max_size=30),
    "NumMedia": st.sampled_from(["abc", "1.5", "-1", "", " 1", "1e3", "٣", "100", "10", "99"])
    | st.text(max_size=4),
    "MediaUrl0": st.sampled_from(["http://169.254.169.254/latest/meta-data/", ""])
    | st.text(max_size=40),
    "MediaContentType0": st.sampled_from(["image/gif", "text/html", ""]) | st.text(max_size=12),
    "Body": st.text(max_size=300),
}


@st.composite
def forms(draw: st.DrawFn) -> dict[str, str]:
    """A form as Twilio posts it, with a few fields (often none) odd or missing."""
    form = {
        "MessageSid": draw(SIDS),
        "AccountSid": ACCOUNT_SID,
        "From": draw(SENDERS),
        "To": "whatsapp:+14155238886",
        "Body": draw(BODIES),
        "NumMedia": "0",
    }
    if draw(st.booleans()):
        form |= {
            "NumMedia": "1",
            "MediaUrl0": MEDIA_URL,
            "MediaContentType0": draw(st.sampled_from(["image/jpeg", "image/png"])),
        }
    for name in draw(st.lists(st.sampled_from(sorted(ODD_FIELDS)), max_size=3, unique=True)):
        if draw(st.booleans()):
            form[name] = draw(ODD_FIELDS[name])
        else:
            form.pop(name, None)
    extra = draw(st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=2))
    return {**extra, **form}


HOSTS = st.sampled_from(
    [HOST, HOST, HOST, "a:b", "[x", "[::1]:443", HOST + ":99999", "", "évil", "x y"]
)
PROTOS = st.sampled_from(["https", "https", "https", "http", "ftp", "", "HTTPS"])
# Paths a mutation may replace (with garbage) or delete.
MUTABLE = [
    ("body",),
    ("isBase64Encoded",),
    ("headers",),
    ("headers", "Host"),
    ("headers", "host"),
    ("headers", "X-Twilio-Signature"),
    ("headers", "x-twilio-signature"),
    ("requestContext",),
    ("requestContext", "path"),
    ("requestContext", "http"),
    ("requestContext", "domainName"),
    ("path",),
    ("rawPath",),
    ("rawQueryString",),
    ("multiValueQueryStringParameters",),
    ("version",),
]


@st.composite
def webhook_events(draw: st.DrawFn, auth_token: str) -> tuple[Any, bool]:
    """(an API Gateway event, whether it is well formed and carries Twilio's signature)."""
    if draw(st.integers(0, 49)) == 0:
        return draw(JSON_GARBAGE), False
    form: dict[str, str] = draw(forms())
    v2 = draw(st.booleans())
    host, proto = draw(HOSTS), draw(PROTOS)
    query = draw(st.sampled_from([{}, {}, {"tenant": ["joburg"]}, {"a": ["1", "2"]}]))
    path = "/webhook" if v2 else STAGE_PATH
    raw_query = urlencode([(k, v) for k, vs in query.items() for v in vs])
    url = f"{proto or 'https'}://{host}{path}" + (f"?{raw_query}" if raw_query else "")
    signed = draw(st.sampled_from(["twilio", "twilio", "twilio", "forged", "none", "odd"]))
    signature: str | None = None
    if signed == "twilio":
        signature = str(RequestValidator(auth_token).compute_signature(url, form))
    elif signed == "forged":
        signature = "Zm9yZ2Vk"
    elif signed == "odd":
        signature = draw(st.text(max_size=30))
    raw = urlencode(form).encode()
    encoding = draw(st.sampled_from(["base64", "base64", "plain", "bad-base64", "not-utf8"]))
    body: str
    if encoding == "base64":
        body = base64.b64encode(raw).decode()
    elif encoding == "plain":
        body = raw.decode()
    elif encoding == "bad-base64":
        body = draw(st.sampled_from(["%%%", "abc", "YQ", "===="]))
    else:
        body = base64.b64encode(raw + b"&Body=\xff\xfe").decode()
    headers = {"Host": host, "X-Forwarded-Proto": proto}
    if v2:
        headers = {name.lower(): value for name, value in headers.items()}
    if signature is not None:
        headers["x-twilio-signature" if v2 else "X-Twilio-Signature"] = signature
    event: dict[str, Any]
    if v2:
        event = {
            "version": "2.0",
            "rawPath": path,
            "rawQueryString": raw_query,
            "headers": headers,
            "requestContext": {"domainName": HOST, "http": {"method": "POST", "path": path}},
            "body": body,
            "isBase64Encoded": encoding != "plain",
        }
    else:
        event = {
            "path": "/webhook",
            "headers": headers,
            "multiValueQueryStringParameters": query or None,
            "requestContext": {"path": path, "stage": "Prod"},
            "body": body,
            "isBase64Encoded": encoding != "plain",
        }
    mutations = draw(st.lists(st.tuples(st.sampled_from(MUTABLE), st.booleans()), max_size=2))
    for where, delete in mutations:
        parent: Any = event
        for key in where[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            if delete:
                parent.pop(where[-1], None)
            else:
                parent[where[-1]] = draw(JSON_GARBAGE)
    clean = (
        signed == "twilio"
        and encoding in ("base64", "plain")
        and host == HOST
        and proto in ("https", "http")
        and not mutations
    )
    return event, clean


def test_no_generated_event_gets_an_exception_out_of_the_webhook(webhook: LocalPipeline) -> None:
    seen: Counter[str] = Counter()

    @settings(
        max_examples=FUZZ_EVENTS,
        deadline=None,
        # Seeded from the test, not the clock (hypothesis still adapts what it generates,
        # so the counts below vary a little from run to run).
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(webhook_events(webhook.auth_token))
    def check(generated: tuple[Any, bool]) -> None:
        event, clean = generated
        answer = _invoke(webhook, event)
        status = answer["statusCode"]
        seen[str(status)] += 1
        assert status in (200, 400, 403), answer
        if status == 200:
            assert answer["body"].startswith("<?xml")
        else:
            assert len(answer["body"]) < 80  # a short reason, never the request echoed
        if clean:
            seen["signed and well formed"] += 1
            assert status in (200, 400), answer  # the signature holds: only the form may fail

    check()
    total = seen["200"] + seen["400"] + seen["403"]
    print(
        f"\nwebhook fuzz: {total} generated events, 0 exceptions: "
        f"200 x {seen['200']}, 400 x {seen['400']}, 403 x {seen['403']} "
        f"({seen['signed and well formed']} signed and well formed)"
    )
    assert total >= FUZZ_EVENTS
    assert seen["200"] > FUZZ_EVENTS // 20, "too few events got past every check to mean much"
