"""What ops count: the handlers' CloudWatch metrics, read from the EMF lines a local run prints.

In Lambda, CloudWatch Logs turns each EMF line on stdout into metrics; locally they go to the
test's stdout, which is what these tests read.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import pytest

from meter_reading.local.runtime import LocalPipeline
from meter_reading.local.sample_photo import render_meter_photo
from meter_reading.observability import NAMESPACE, SERVICE_OF, Metric

HOUSEHOLD = "whatsapp:+27821239876"


def _emf_lines(printed: str) -> list[dict[str, Any]]:
    found = []
    for line in printed.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            found.append(json.loads(line))
    return found


def _values(value: Any) -> list[float]:
    """EMF carries one value, or a list when a metric was added more than once."""
    return value if isinstance(value, list) else [value]


def _counted(lines: list[dict[str, Any]]) -> dict[tuple[str, str], float]:
    """(metric, service) -> summed value, over every EMF line, checking each line's shape."""
    totals: dict[tuple[str, str], float] = defaultdict(float)
    for line in lines:
        [directive] = line["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == NAMESPACE
        for definition in directive["Metrics"]:
            name = definition["Name"]
            for one in _values(line[name]):
                totals[(name, line["service"])] += one
    return totals


def _finish_confirmed_reading(pipeline: LocalPipeline) -> str:
    reading_id, ack = pipeline.send_photo(HOUSEHOLD, render_meter_photo("04521.7"))
    assert ack.status_code == 200
    assert pipeline.wait_for_question(HOUSEHOLD, reading_id)
    assert pipeline.send_text(HOUSEHOLD, "YES").status_code == 200
    assert pipeline.wait_until_finished(reading_id)["status"] == "SUCCEEDED"
    return reading_id


def test_a_confirmed_reading_is_counted_from_start_to_billing(
    pipeline: LocalPipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    _finish_confirmed_reading(pipeline)
    lines = _emf_lines(capsys.readouterr().out)

    counted = _counted(lines)
    expected = {
        Metric.READINGS_STARTED: 1,
        Metric.CONFIRMED_BY_OCR: 1,
        Metric.PUBLISHED: 1,
    }
    for metric, value in expected.items():
        assert counted[(metric.value, SERVICE_OF[metric].value)] == value, counted
    for metric in (Metric.REJECTED, Metric.FAILED, Metric.DEAD, Metric.KEPT):
        assert counted[(metric.value, SERVICE_OF[metric].value)] == 0, counted
    confidence = [
        value
        for line in lines
        if Metric.OCR_CONFIDENCE.value in line
        for value in _values(line[Metric.OCR_CONFIDENCE.value])
    ]
    assert len(confidence) == 1 and 0 < confidence[0] <= 1
    # Each metric goes out under the service the alarms and the dashboard name it with.
    for line in lines:
        [directive] = line["_aws"]["CloudWatchMetrics"]
        for definition in directive["Metrics"]:
            assert line["service"] == SERVICE_OF[Metric(definition["Name"])].value
    # No phone number in what goes to CloudWatch.
    assert HOUSEHOLD.removeprefix("whatsapp:") not in json.dumps(lines)


def test_a_household_correction_and_a_forged_webhook_are_counted(
    pipeline: LocalPipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    form = pipeline.photo_webhook(HOUSEHOLD, render_meter_photo("04521.7"))
    assert pipeline.deliver_webhook(form, signature="bm90IGEgc2lnbmF0dXJl").status_code == 403
    reading_id, _ack = pipeline.send_photo(HOUSEHOLD, render_meter_photo("04521.7"))
    assert pipeline.wait_for_question(HOUSEHOLD, reading_id)
    pipeline.send_text(HOUSEHOLD, "4521.9")
    assert pipeline.wait_until_finished(reading_id)["status"] == "SUCCEEDED"

    counted = _counted(_emf_lines(capsys.readouterr().out))
    assert counted[(Metric.SIGNATURE_REJECTED.value, "webhook")] == 1
    assert counted[(Metric.READINGS_STARTED.value, "webhook")] == 1
    assert counted[(Metric.CONFIRMED_BY_HOUSEHOLD.value, "readings")] == 1
    assert counted[(Metric.CONFIRMED_BY_OCR.value, "readings")] == 0


def _fresh_python(code: str, **environment: str) -> str:
    """Run `code` in a new interpreter with these variables (and without Lambda's, unless
    given): what it prints."""
    import os
    import subprocess
    import sys

    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("LAMBDA_TASK_ROOT", "POWERTOOLS_TRACE_DISABLED", "AWS_SAM_LOCAL")
    }
    env.update(environment)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


TRACER_PROBE = """
import sys
from meter_reading import observability
tracer = observability.tracer("probe")
print(type(tracer).__name__, "aws_xray_sdk" in sys.modules)
"""


def test_handlers_are_traced_in_lambda() -> None:
    assert _fresh_python(TRACER_PROBE, LAMBDA_TASK_ROOT="/var/task") == "Tracer True"


@pytest.mark.parametrize(
    "environment",
    [
        {},  # not in Lambda: no X-Ray daemon to send to
        {"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"},
        {"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"},
    ],
)
def test_where_nothing_is_traced_the_xray_sdk_is_not_even_imported(
    environment: dict[str, str],
) -> None:
    # The SDK's import is about 270 ms of the webhook's cold start.
    assert _fresh_python(TRACER_PROBE, **environment) == "NoTracer False"


def test_a_handler_without_tracing_is_the_handler_itself() -> None:
    from meter_reading.observability import NoTracer

    def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
        return {"event": event}

    tracer = NoTracer("probe")
    assert tracer.capture_lambda_handler(capture_response=False)(handler) is handler
    assert tracer.capture_method(capture_response=False)(handler) is handler
