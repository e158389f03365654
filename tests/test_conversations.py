"""Scripted conversations over the local runtime: what households send, what they read back.

Each scenario is a table of turns: (household, what it sends) -> the webhook's immediate
answer and the WhatsApp messages that follow; then the readings' final states and what
reached billing. Everything runs for real: the ASL on moto, our handlers, offline OCR on
rendered meter photos, the real RabbitMQ broker.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
from conftest import BillingQueue
from twilio_client import Twilio

from meter_reading.adapters.tables import ReadingRepository
from meter_reading.domain import messages
from meter_reading.local.runtime import LocalPipeline
from meter_reading.local.sample_photo import render_meter_photo
from meter_reading.local.server import WebhookServer

A = "whatsapp:+27820000001"
B = "whatsapp:+27820000002"
C = "whatsapp:+27820000003"
WAIT_SECONDS = 120


@dataclass(frozen=True)
class Photo:
    label: str
    reading: str
    meter: str = "electricity"


@dataclass(frozen=True)
class Again:
    """Deliver an earlier webhook once more: Twilio's retry, or a replay of a signed request."""

    label: str


@dataclass(frozen=True)
class Wait:
    """Send nothing; wait for what follows."""


@dataclass(frozen=True)
class Turn:
    household: str
    send: str | Photo | Again | Wait
    reply: str | None = None  # the webhook's TwiML text; None: no text
    # Each the next WhatsApp message the household gets: a part of it, or several parts.
    then: tuple[str | tuple[str, ...], ...] = ()
    label: str | None = None  # to deliver this text again later


@dataclass(frozen=True)
class Final:
    status: str
    reading: str | None = None
    source: str = "ocr"
    unit: str = "kWh"
    ocr_reading: str | None = None


@dataclass
class Scenario:
    turns: list[Turn]
    readings: dict[str, Final]
    billed: list[tuple[str, str, str, str]]  # (photo label, reading, source, unit)
    history: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # value, days ago


def _past(days: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def _day(days: int) -> str:
    at = _past(days)
    return f"{at.day} {at:%B}"


HELP, RECEIVED, STILL = messages.HELP, messages.PHOTO_RECEIVED, messages.STILL_READING
THANKS = "Thank you! Your reading of"

SCENARIOS: dict[str, Scenario] = {
    "a typed number corrects the reading, in the ways people type it": Scenario(
        history={A: [("1800.0", 55), ("2049.1", 25)]},
        turns=[
            Turn(A, Photo("a1", "9050.9"), RECEIVED, (
                "We read *9050.9 kWh* on your meter, but that would be 7,001.8 kWh since "
                f"{_day(25)} — please check the decimal point.",
            )),
            Turn(B, Photo("b1", "03662.0"), RECEIVED, ("*03662.0 kWh*",)),
            # Whether a water meter's red decimal wheel counts is the reader's business;
            # the unit is the conversation's.
            Turn(C, Photo("c1", "0512.4", "water"), RECEIVED, (("*0512", " m³*"),)),
            Turn(A, "NO 2050.9", None, (f"{THANKS} 2050.9 kWh is confirmed",)),
            Turn(B, "it is 3662,5", None, (f"{THANKS} 3662.5 kWh is confirmed",)),
            Turn(C, "512,4", None, (f"{THANKS} 512.4 m³ is confirmed",)),
        ],
        readings={
            "a1": Final("CONFIRMED", "2050.9", "household", ocr_reading="9050.9"),
            "b1": Final("CONFIRMED", "3662.5", "household", ocr_reading="03662.0"),
            "c1": Final("CONFIRMED", "512.4", "household", "m³"),
        },
        billed=[
            ("a1", "2050.9", "household", "kWh"),
            ("b1", "3662.5", "household", "kWh"),
            ("c1", "512.4", "household", "m³"),
        ],
    ),
    "a newer photo supersedes the waiting one": Scenario(
        turns=[
            Turn(A, Photo("a1", "1234.5"), RECEIVED, ("*1234.5 kWh*",)),
            Turn(A, Photo("a2", "1240.0"), RECEIVED, ("*1240.0 kWh*",)),
            Turn(A, "YES", None, (f"{THANKS} 1240.0 kWh is confirmed",)),
        ],
        readings={"a1": Final("SUPERSEDED", "1234.5"), "a2": Final("CONFIRMED", "1240.0")},
        billed=[("a2", "1240.0", "ocr", "kWh")],
    ),
    "an answer while the newest photo is being read confirms nothing": Scenario(
        turns=[
            Turn(A, Photo("a1", "1234.5"), RECEIVED, ("*1234.5 kWh*",)),
            Turn(A, Photo("a2", "1240.0"), RECEIVED),
            Turn(A, "YES", STILL),
            Turn(A, "1234.5", STILL),
            Turn(A, Wait(), None, ("*1240.0 kWh*",)),
            Turn(A, "ja", None, (f"{THANKS} 1240.0 kWh is confirmed",)),
        ],
        readings={"a1": Final("SUPERSEDED", "1234.5"), "a2": Final("CONFIRMED", "1240.0")},
        billed=[("a2", "1240.0", "ocr", "kWh")],
    ),
    "a retried or replayed message is acted on once": Scenario(
        turns=[
            Turn(A, "YES", messages.NOTHING_PENDING, label="early"),
            Turn(A, Photo("a1", "1234.5"), RECEIVED, ("*1234.5 kWh*",)),
            Turn(A, Again("early"), messages.NOTHING_PENDING),  # the first answer, again
            Turn(A, "YES", None, (f"{THANKS} 1234.5 kWh is confirmed",), label="yes"),
            Turn(A, Again("yes"), None),  # Twilio's retry: same answer, nothing resumed
            Turn(A, Again("a1"), RECEIVED),  # the photo's webhook retried: no new reading
            Turn(A, Photo("a2", "1250.0"), RECEIVED, ("*1250.0 kWh*",)),
            Turn(A, Again("yes"), None),  # an old signed YES replayed: confirms nothing new
            Turn(A, "STATUS", messages.status_question_waiting("1250.0", "kWh")),
        ],
        readings={
            "a1": Final("CONFIRMED", "1234.5"),
            "a2": Final("AWAITING_CONFIRMATION", "1250.0"),
        },
        billed=[("a1", "1234.5", "ocr", "kWh")],
    ),
    "commands: HELP, STATUS, HISTORY": Scenario(
        history={A: [("1100.0", 40), ("1180.0", 30)]},
        turns=[
            Turn(A, "help", HELP),
            Turn(A, "STATUS", messages.status_nothing_waiting(
                f"1180.0 kWh on {_day(30)} {_past(30).year}"
            )),
            Turn(A, Photo("a1", "1234.5"), RECEIVED, ("*1234.5 kWh*",)),
            Turn(A, "status", messages.status_question_waiting("1234.5", "kWh")),
            Turn(A, "YES", None, (f"{THANKS} 1234.5 kWh is confirmed",)),
            Turn(A, "History", "\n".join([
                "Your last confirmed readings:",
                f"{_past(0).day} {_past(0):%B %Y}: 1234.5 kWh",
                f"{_day(30)} {_past(30).year}: 1180.0 kWh",
                f"{_day(40)} {_past(40).year}: 1100.0 kWh",
            ])),
            Turn(B, "HISTORY", messages.history([])),
            Turn(B, "what is this?", HELP),
        ],
        readings={"a1": Final("CONFIRMED", "1234.5")},
        billed=[("a1", "1234.5", "ocr", "kWh")],
    ),
    "NO discards the reading and closes the question": Scenario(
        turns=[
            Turn(A, Photo("a1", "1234.5"), RECEIVED, ("*1234.5 kWh*",)),
            Turn(A, "no", None, ("discarded that reading",)),
            Turn(A, "1234.6", messages.NOTHING_PENDING),
        ],
        readings={"a1": Final("REJECTED", "1234.5")},
        billed=[],
    ),
}  # fmt: skip


class Script:
    """Plays a scenario against the pipeline and prints the conversation as it goes."""

    def __init__(self, pipeline: LocalPipeline) -> None:
        self.pipeline = pipeline
        self.forms: dict[str, dict[str, str]] = {}
        self.seen: dict[str, int] = {}
        self.reading_ids: dict[str, str] = {}

    def say(self, household: str, text: str) -> None:
        print(f"  {household[-4:]} {text}")

    def play(self, turn: Turn) -> None:
        h, send = turn.household, turn.send
        if isinstance(send, Wait):
            self.say(h, "(waits)")
        else:
            if isinstance(send, Photo):
                form = self.pipeline.photo_webhook(h, render_meter_photo(send.reading, send.meter))
                self.reading_ids[send.label] = form["MessageSid"]
                self.forms[send.label] = form
                self.say(h, f"> [photo of a {send.meter} meter showing {send.reading}]")
            elif isinstance(send, Again):
                form = self.forms[send.label]
                self.say(h, f"> (the same webhook again: {send.label})")
            else:
                form = self.pipeline.text_webhook(h, send)
                if turn.label:
                    self.forms[turn.label] = form
                self.say(h, f"> {send}")
            response = self.pipeline.deliver_webhook(form)
            assert response.status_code == 200, response.body
            self.say(h, f"< {response.reply_text or '(no text)'}")
            assert (response.reply_text or None) == turn.reply
        for expected in turn.then:
            body = self.next_message(h)
            for part in expected if isinstance(expected, tuple) else (expected,):
                assert part in body, f"{part!r} not in {body!r}"

    def next_message(self, household: str) -> str:
        index = self.seen.get(household, 0)
        sent = self.pipeline.twilio.wait_for_messages(household, index + 1, WAIT_SECONDS)
        assert len(sent) > index, f"{household} got no message #{index + 1}"
        self.seen[household] = index + 1
        body = sent[index].body
        self.say(household, "< " + body.replace("\n", "\n         "))
        return body


def _seed_history(pipeline: LocalPipeline, sender: str, past: list[tuple[str, int]]) -> None:
    """Confirmed readings from earlier months, as the readings table would hold them."""
    readings = ReadingRepository(boto3.resource("dynamodb").Table(os.environ["READINGS_TABLE"]))
    for index, (value, days) in enumerate(past):
        reading_id = f"MMhistory{index}{sender[-4:]}"
        readings.save_raw(
            reading_id=reading_id,
            sender=sender,
            reading_text=value,
            unit="kWh",
            confidence=Decimal("0.95"),
            ocr_status="ok",
            s3_key=f"photos/{reading_id}.jpg",
            photo_time=_past(days).isoformat(),
            created_at=_past(days).isoformat(timespec="milliseconds"),
        )
        readings.confirm(reading_id)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scripted_conversation(
    name: str, pipeline: LocalPipeline, billing_queue: BillingQueue
) -> None:
    scenario = SCENARIOS[name]
    print(f"\n== {name}")
    for sender, past in scenario.history.items():
        _seed_history(pipeline, sender, past)
    script = Script(pipeline)
    for turn in scenario.turns:
        script.play(turn)

    for label, reading_id in script.reading_ids.items():
        final = scenario.readings[label]
        if final.status != "AWAITING_CONFIRMATION":
            execution = pipeline.wait_until_finished(reading_id)
            assert execution["status"] == "SUCCEEDED", (label, execution)
        item = pipeline.reading(reading_id)
        assert item is not None, label
        print(f"  reading {label}: {item['status']} {item['reading_text']} {item['unit']}"
              f" (source {item['source']}, OCR read {item['ocr_reading_text']})")  # fmt: skip
        assert item["status"] == final.status, label
        assert (item["reading_text"], item["source"], item["unit"]) == (
            final.reading, final.source, final.unit
        ), label  # fmt: skip
        if final.ocr_reading is not None:
            assert item["ocr_reading_text"] == final.ocr_reading
    if "a1" in script.reading_ids and scenario.readings["a1"].status == "SUPERSEDED":
        last_state = pipeline.state_runs(script.reading_ids["a1"])[-1].name
        assert last_state == "Superseded by a newer photo"

    published = [json.loads(body) for _properties, body in billing_queue.messages()]
    ids = {reading_id: label for label, reading_id in script.reading_ids.items()}
    billed = [(ids[m["reading_id"]], m["reading"], m["source"], m["unit"]) for m in published]
    print(f"  billing: {billed}")
    assert sorted(billed) == sorted(scenario.billed)
    # Nothing more was said than the script expects (nothing about a superseded reading).
    for household, count in script.seen.items():
        assert len(pipeline.twilio.messages_to(household)) == count, household


HOUSEHOLDS = 20


def test_twenty_households_send_photo_and_yes_at_once_through_serve(
    start_pipeline: Any, billing_queue: BillingQueue
) -> None:
    """Signed webhooks over HTTP to `meter-reading serve`'s server, all households at once."""
    pipeline: LocalPipeline = start_pipeline()
    households = {f"whatsapp:+2782100{i:04d}": f"{1000 + 37 * i}.{i % 10}" for i in range(20)}
    photos = {sender: render_meter_photo(value) for sender, value in households.items()}
    public_url = "https://example-tunnel.invalid/webhook"
    with WebhookServer(pipeline, port=0, public_url=public_url) as server:
        twilio = Twilio(server.local_url, public_url, pipeline.auth_token)

        def one_household(sender: str) -> str:
            photo = twilio.form(sender, media_url=twilio.upload(photos[sender]))
            assert messages.PHOTO_RECEIVED in twilio.post(photo).text
            assert len(twilio.wait_for_messages(sender, 1)) == 1
            assert twilio.post(twilio.form(sender, "YES")).status_code == 200
            assert len(twilio.wait_for_messages(sender, 2)) == 2
            return str(photo["MessageSid"])

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=HOUSEHOLDS) as pool:
            reading_ids = dict(zip(households, pool.map(one_household, households), strict=True))
        elapsed = time.monotonic() - started

        readings = {sender: twilio.get("/api/readings", sender=sender) for sender in households}
        received = {sender: twilio.get("/local/messages", to=sender) for sender in households}
    confirmed = sum(r[0]["status"] == "CONFIRMED" for r in readings.values() if len(r) == 1)
    published = [json.loads(body) for _properties, body in billing_queue.messages()]
    print(
        f"\n{HOUSEHOLDS} households, photo + YES at once through serve: {elapsed:.1f} s, "
        f"{confirmed} readings confirmed, {len(published)} billing messages"
    )
    assert confirmed == HOUSEHOLDS
    assert len(published) == HOUSEHOLDS
    assert {(m["reading_id"], m["sender"]) for m in published} == {
        (reading_id, sender) for sender, reading_id in reading_ids.items()
    }
    # Every household got its own prompt and thanks, about its own meter, and nobody else's.
    for sender, value in households.items():
        [reading] = readings[sender]
        assert reading["reading_id"] == reading_ids[sender]
        assert Decimal(reading["reading"]) == Decimal(value)
        bodies = [m["body"] for m in received[sender]]
        assert [m["to"] for m in received[sender]] == [sender, sender]
        assert f"*{reading['reading']} kWh*" in bodies[0]
        assert bodies[1] == messages.reading_confirmed(reading["reading"], "kWh")
    assert {m.to for m in pipeline.twilio.sent} == set(households)
