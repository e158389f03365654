"""Executions that explain themselves: each ending's output says the outcome, a failed
execution carries the real error and cause, and every photo leaves a reading row with its
household, as ops see them in Step Functions and in the readings table."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import AMQP_URL, BillingQueue

from meter_reading.domain import messages
from meter_reading.local.runtime import LocalPipeline
from meter_reading.local.sample_photo import render_blank_photo, render_meter_photo

HOUSEHOLD = "whatsapp:+27821110001"


def _output(pipeline: LocalPipeline, reading_id: str) -> dict[str, Any]:
    execution = pipeline.wait_until_finished(reading_id)
    assert execution["status"] == "SUCCEEDED", execution
    output: dict[str, Any] = json.loads(execution["output"])
    return output


def _asked(pipeline: LocalPipeline, reading: str = "04521.7") -> str:
    reading_id, _ack = pipeline.send_photo(HOUSEHOLD, render_meter_photo(reading))
    assert pipeline.wait_for_question(HOUSEHOLD, reading_id)
    return reading_id


def test_a_confirmed_reading_ends_with_its_value_source_and_billing_outcome(
    pipeline: LocalPipeline,
) -> None:
    reading_id = _asked(pipeline)
    pipeline.send_text(HOUSEHOLD, "YES")
    output = _output(pipeline, reading_id)
    assert output["billing"]["outcome"] == "published"
    assert {k: v for k, v in output.items() if k != "billing"} == {
        "reading_id": reading_id,
        "status": "CONFIRMED",
        "reading": "04521.7",
        "unit": "kWh",
        "source": "ocr",
    }


def test_a_correction_rejection_and_supersession_each_say_so(pipeline: LocalPipeline) -> None:
    corrected = _asked(pipeline)
    pipeline.send_text(HOUSEHOLD, "4521.9")
    assert _output(pipeline, corrected) | {"billing": None} == {
        "reading_id": corrected,
        "status": "CONFIRMED",
        "reading": "4521.9",
        "unit": "kWh",
        "source": "household",
        "billing": None,
    }

    rejected = _asked(pipeline)
    pipeline.send_text(HOUSEHOLD, "NO")
    assert _output(pipeline, rejected)["status"] == "REJECTED"

    older = _asked(pipeline)
    newer = _asked(pipeline, "04530.2")
    superseded = _output(pipeline, older)
    assert superseded["status"] == "SUPERSEDED" and superseded["reading"] == "04521.7"
    assert pipeline.describe(newer)["status"] == "RUNNING"


def test_an_unreadable_photo_leaves_a_reading_row_and_says_why(
    pipeline: LocalPipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    reading_id, _ack = pipeline.send_photo(HOUSEHOLD, render_blank_photo())
    output = _output(pipeline, reading_id)
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    # Counted in total, and once more by reason (the dashboard's breakdown).
    unreadable = [line for line in emf if "ReadingsUnreadable" in line]
    assert sorted(str(line.get("reason")) for line in unreadable) == sorted(
        ["None", output["reason"]]
    )
    assert output["status"] == "UNREADABLE" and output["reading"] is None
    assert output["reason"]
    [row] = pipeline.readings_of(HOUSEHOLD)
    assert row["reading_id"] == reading_id and row["status"] == "UNREADABLE"
    assert row["status_detail"] == output["reason"]
    assert row["s3_key"].startswith(f"photos/{reading_id}")


class _BrokenTextract:
    """Text detection that fails on every photo, as a Textract job FAILED would."""

    def detect(self, image_bytes: bytes) -> list[dict[str, Any]]:
        raise RuntimeError("the OCR service could not process the document")


def test_a_failed_execution_carries_the_real_error_and_the_row_its_household(
    billing_queue: BillingQueue, capsys: pytest.CaptureFixture[str]
) -> None:
    with LocalPipeline(
        amqp_url=AMQP_URL, billing_exchange=billing_queue.exchange, detector=_BrokenTextract()
    ) as pipeline:
        reading_id, _ack = pipeline.send_photo(HOUSEHOLD, render_meter_photo("04521.7"))
        execution = pipeline.wait_until_finished(reading_id)
        rows = pipeline.readings_of(HOUSEHOLD)
        told = pipeline.twilio.messages_to(HOUSEHOLD)[-1].body
        history = pipeline.history(reading_id)

    assert execution["status"] == "FAILED"
    [failed] = [e for e in history if e["type"] == "ExecutionFailed"]
    details = failed["executionFailedEventDetails"]
    assert details["error"] == "TextDetectionFailed"
    assert "could not process the document" in details["cause"]
    # Found by household, without a scan: the readings index has the failed reading.
    [row] = rows
    assert row["reading_id"] == reading_id and row["status"] == "FAILED"
    assert row["status_detail"].startswith("TextDetectionFailed: ")
    assert row["created_at"]
    assert told == messages.processing_failed()
    counted = _emf_totals(capsys.readouterr().out)
    assert counted["TextDetectionFailures"] == 1 and counted["ReadingsFailed"] == 1


def _emf_totals(printed: str) -> dict[str, float]:
    """Metric name -> sum of its values over the EMF lines the handlers printed."""
    totals: dict[str, float] = {}
    for line in printed.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        emf = json.loads(line)
        for definition in emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            value = emf[definition["Name"]]
            values = value if isinstance(value, list) else [value]
            totals[definition["Name"]] = totals.get(definition["Name"], 0) + sum(values)
    return totals
