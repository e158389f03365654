"""The `meter-reading` command as a developer uses it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meter_reading.cli import main
from meter_reading.local.sample_photo import render_blank_photo, render_meter_photo


def test_read_prints_one_json_line_per_photo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    meter = tmp_path / "meter.jpg"
    meter.write_bytes(render_meter_photo("04521.7"))
    blank = tmp_path / "blank.jpg"
    blank.write_bytes(render_blank_photo())
    missing = tmp_path / "missing.jpg"

    assert main(["read", str(meter), str(blank), str(missing)]) == 0

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["file"] for line in lines] == [str(meter), str(blank), str(missing)]
    # The value as the register prints it, point included, in its unit. The recognizer's
    # own doubt about the point keeps a clean rendering below the `ok` bar, so either status.
    assert lines[0]["reading"] == "04521.7" and lines[0]["unit"] == "kWh"
    assert lines[0]["meter_type"] == "electricity"
    assert lines[0]["status"] in ("ok", "uncertain") and 0 < lines[0]["confidence"] <= 1
    assert lines[1]["status"] == "unreadable" and lines[1]["reading"] is None
    assert lines[2]["status"] == "unreadable" and "error" in lines[2]


def test_demo_shows_the_conversation_the_states_the_item_and_the_billing_message(
    rabbitmq: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--reply", "YES", "--amqp-url", rabbitmq]) == 0

    out = capsys.readouterr().out
    assert "household > YES" in out
    assert "service   < Thank you! Your reading of 03662.0 kWh is confirmed" in out
    assert ": SUCCEEDED in" in out
    assert "Publish to billing                   SUCCEEDED" in out
    assert '"status": "CONFIRMED"' in out
    assert "content_type=application/json delivery_mode=2" in out
    assert '"schema": "meter-reading.confirmed/v1"' in out
