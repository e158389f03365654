"""Photo -> confirmation prompt on the local pipeline, and what one confirmed reading costs.

    python bench/photo_to_prompt.py [--runs 5] [--photo PATH]

Runs the unchanged ASL on moto with our handlers, the offline Textract stand-in and the real
RabbitMQ broker at AMQP_URL (as `make demo` does). One warm-up reading first (imports, the
OCR models), then `--runs` readings of the same photo, one after the other. Each is timed from
the photo's webhook to the end of the question's Lambda (the prompt handed to Twilio), split
into:

- webhook: the receive handler answering Twilio (the claim, the household's note, StartExecution);
- OCR: the Textract stand-in's work for the reading: the asynchronous job on the photo, and
  the extract step's DetectDocumentText on its display crops (Textract, in AWS);
- the rest: everything else (our other steps, moto's interpreter, the SNS hand-over).

Every reading is then confirmed with YES. The last one's execution history, Lambda
invocations and AWS requests (counted at the botocore level) give what a confirmed reading
costs, at the AWS list prices below (us-east-1, on-demand, without free tiers).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meter_reading.local import template
from meter_reading.local.runtime import DEFAULT_AMQP_URL, LocalPipeline
from meter_reading.local.sample_photo import render_meter_photo

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT.parent / "shared" / "meter-photos"

# AWS list prices, us-east-1 (USD).
STATE_TRANSITION = 0.025 / 1_000  # Step Functions Standard
LAMBDA_GB_SECOND_ARM = 0.0000133334  # Lambda, arm64
LAMBDA_REQUEST = 0.20 / 1_000_000
TEXTRACT_PAGE = 1.50 / 1_000  # Detect Document Text, first million pages a month
DYNAMODB_WRU = 0.625 / 1_000_000  # on-demand write request unit
DYNAMODB_RRU = 0.125 / 1_000_000  # on-demand read request unit
S3_PUT = 0.005 / 1_000  # S3 Standard PUT, COPY, POST, LIST
S3_GET = 0.0004 / 1_000  # S3 Standard GET and all other requests
SNS_PUBLISH = 0.50 / 1_000_000  # deliveries to Lambda are free
API_GATEWAY_REQUEST = 3.50 / 1_000_000  # REST API, first 333 million a month

DYNAMODB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
DYNAMODB_READS = frozenset({"GetItem", "Query", "Scan"})
# Tables with a global secondary index (template.yaml): a write costs one more WRU there.
INDEXED_TABLES = ("READINGS_TABLE", "OUTBOX_TABLE")


@dataclass
class Calls:
    """Every AWS API call made through boto3, by (service, operation) and DynamoDB table."""

    by_operation: Counter[tuple[str, str]] = field(default_factory=Counter)
    dynamodb: Counter[tuple[str, str]] = field(default_factory=Counter)  # (table, operation)

    def hook(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        service, operation = model.service_model.service_name, model.name
        self.by_operation[(service, operation)] += 1
        if service == "dynamodb":
            self.dynamodb[(str(params.get("TableName")), operation)] += 1

    def snapshot(self) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str]]]:
        return Counter(self.by_operation), Counter(self.dynamodb)


@dataclass(frozen=True)
class Run:
    total: float
    webhook: float
    ocr: float
    reader: float = 0.0  # the extract step's own work besides Textract (the meter reader)

    @property
    def rest(self) -> float:
        return self.total - self.webhook - self.ocr

    @property
    def flow(self) -> float:
        """The rest without the meter reader: the other steps and every hand-over."""
        return self.rest - self.reader


def _photo(path: str | None) -> tuple[bytes, str]:
    if path:
        return Path(path).read_bytes(), path
    labels = PHOTOS / "labels.csv"
    if labels.is_file():
        with labels.open(newline="") as handle:
            for row in csv.DictReader(handle):
                if row["meter_type"] == "electricity-lcd":
                    photo = PHOTOS / "images" / row["file"]
                    return photo.read_bytes(), str(photo.relative_to(ROOT.parent))
    return render_meter_photo("03662.0"), "a rendered meter photo (../shared is absent)"


def _memory_mb() -> dict[str, int]:
    spec = template.load_template(ROOT / "template.yaml")
    default = int(spec["Globals"]["Function"]["MemorySize"])
    return {
        logical_id: int(resource["Properties"].get("MemorySize", default))
        for logical_id, resource in spec["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--photo", help="a meter photo (default: the first electricity photo)")
    args = parser.parse_args()
    photo, photo_name = _photo(args.photo)
    amqp_url = os.environ.get("AMQP_URL", DEFAULT_AMQP_URL)

    with LocalPipeline(amqp_url=amqp_url, emit_metrics=False, log_level="ERROR") as pipeline:
        lambdas, textract = pipeline.lambdas, pipeline.textract
        assert lambdas is not None and textract is not None
        calls = Calls()
        pipeline.intercept("before-parameter-build", calls.hook)
        job_of: dict[str, str] = {}
        prompted: dict[str, float] = {}

        def observe(function: str, payload: dict[str, Any], result: Any, error: Any) -> None:
            if error is None and function == "StartTextDetectionFunction":
                job_of[payload["reading_id"]] = result["job_id"]
            if error is None and function == "AskConfirmationFunction":
                prompted[payload["reading_id"]] = time.perf_counter()

        lambdas.observers.append(observe)
        # The stand-in times its own OCR: the job on the photo, each DetectDocumentText call.
        detect_seconds = textract.detect_seconds

        def reading(household: str) -> tuple[Run, str]:
            form = pipeline.photo_webhook(household, photo)
            crops_before = len(detect_seconds)
            invocations_then = len(lambdas.durations)
            began = time.perf_counter()
            answer = pipeline.deliver_webhook(form)
            webhook = time.perf_counter() - began
            assert answer.status_code == 200, answer
            reading_id = form["MessageSid"]
            if not pipeline.wait_for_question(household, reading_id):
                raise RuntimeError(f"no question: {pipeline.describe(reading_id)}")
            crops = sum(detect_seconds[crops_before:])
            ocr = textract.ocr_seconds[job_of[reading_id]] + crops
            extract = sum(
                seconds
                for function, seconds in lambdas.durations[invocations_then:]
                if function == "ExtractReadingFunction"
            )
            run = Run(prompted[reading_id] - began, webhook, ocr, extract - crops)
            pipeline.send_text(household, "YES")
            ended = pipeline.wait_until_finished(reading_id)
            if (
                ended["status"] != "SUCCEEDED"
                or (pipeline.reading(reading_id) or {}).get("status") != "CONFIRMED"
            ):
                raise RuntimeError(f"not confirmed: {ended}")
            return run, reading_id

        reading("whatsapp:+27840000000")  # warm-up: imports, OCR models, first clients
        runs: list[Run] = []
        for index in range(args.runs):
            if index == args.runs - 1:  # the last reading is the one costed
                calls_before = calls.snapshot()
                invocations_before = len(lambdas.durations)
            run, reading_id = reading(f"whatsapp:+2784{index + 1:07d}")
            runs.append(run)
            print(
                f"run {index + 1}: photo -> prompt {run.total:.2f} s "
                f"(webhook {run.webhook:.2f} s, OCR {run.ocr:.2f} s, the rest {run.rest:.2f} s: "
                f"meter reader {run.reader:.2f} s, other steps and hand-overs {run.flow:.2f} s)"
            )
        time.sleep(0.5)  # the last SNS hand-over's thread has returned
        operations = calls.by_operation - calls_before[0]
        tables = calls.dynamodb - calls_before[1]
        invocations = lambdas.durations[invocations_before:]
        entered = [e for e in pipeline.history(reading_id) if e["type"].endswith("StateEntered")]
        indexed = frozenset(os.environ[name] for name in INDEXED_TABLES)

    def median(part: Callable[[Run], float]) -> float:
        return statistics.median(part(r) for r in runs)

    # Each part's median over the runs: medians of parts do not add up to the total's.
    beyond_ocr = median(lambda r: r.total - r.ocr)
    print(f"\nphoto: {photo_name}")
    print(
        f"medians of {len(runs)}: photo -> prompt {median(lambda r: r.total):.2f} s, "
        f"webhook {median(lambda r: r.webhook):.2f} s, OCR {median(lambda r: r.ocr):.2f} s, "
        f"the rest {median(lambda r: r.rest):.2f} s (meter reader {median(lambda r: r.reader):.2f}"
        f" s, other steps and hand-overs {median(lambda r: r.flow):.2f} s)"
    )
    print(f"photo -> prompt beyond the OCR, median: {beyond_ocr:.2f} s (bar: <= 0.50 s)")
    _print_cost(len(entered), invocations, operations, tables, indexed)
    return 0 if beyond_ocr <= 0.5 else 1


def _print_cost(
    transitions: int,
    invocations: list[tuple[str, float]],
    operations: Counter[tuple[str, str]],
    tables: Counter[tuple[str, str]],
    indexed_tables: frozenset[str],
) -> None:
    memory = _memory_mb()
    lines: list[tuple[str, str, float]] = []  # (item, quantity, USD per 1,000 readings)
    lines.append(
        ("Step Functions state transitions", str(transitions), transitions * STATE_TRANSITION)
    )
    by_function: dict[str, list[float]] = {}
    for function, seconds in invocations:
        by_function.setdefault(function, []).append(seconds)
    gb_seconds = 0.0
    for function, durations in sorted(by_function.items()):
        billed = sum(math.ceil(seconds * 1000) / 1000 for seconds in durations)
        gb_seconds += billed * memory[function] / 1024
        lines.append(
            (
                f"  {function} ({memory[function]} MB)",
                f"{len(durations)} x, {billed * 1000:.0f} ms",
                billed * memory[function] / 1024 * LAMBDA_GB_SECOND_ARM,
            )
        )
    lines.insert(
        1,
        (
            "Lambda invocations (arm64): requests",
            str(len(invocations)),
            len(invocations) * LAMBDA_REQUEST,
        ),
    )
    pages = (
        operations[("textract", "StartDocumentTextDetection")]
        + operations[("textract", "DetectDocumentText")]
    )
    lines.append(
        (
            "Textract pages (1 async job on the photo, 1 DetectDocumentText of the crops)",
            str(pages),
            pages * TEXTRACT_PAGE,
        )
    )
    writes = reads = 0.0
    wru = 0
    for (table, operation), count in tables.items():
        if operation in DYNAMODB_WRITES:
            writes += count
            wru += count * (2 if table in indexed_tables else 1)
        elif operation in DYNAMODB_READS:
            reads += count
    lines.append(
        (
            "DynamoDB writes (WRU, items < 1 KB, + 1 per indexed table)",
            f"{writes:.0f} ({wru} WRU)",
            wru * DYNAMODB_WRU,
        )
    )
    lines.append(
        ("DynamoDB reads (<= 1 RRU each, items < 4 KB)", f"{reads:.0f}", reads * DYNAMODB_RRU)
    )
    puts = operations[("s3", "PutObject")]
    gets = operations[("s3", "GetObject")] + operations[("s3", "HeadObject")]
    lines.append(("S3 PUT", str(puts), puts * S3_PUT))
    lines.append(("S3 GET (Textract's read, the extract step's)", str(gets), gets * S3_GET))
    publishes = operations[("sns", "Publish")]
    lines.append(
        ("SNS publishes (Textract's notification)", str(publishes), publishes * SNS_PUBLISH)
    )
    webhooks = sum(1 for function, _ in invocations if function == "ReceiveFunction")
    lines.append(
        ("API Gateway requests (the photo, the YES)", str(webhooks), webhooks * API_GATEWAY_REQUEST)
    )
    total = sum(usd for _, _, usd in lines)

    print("\nwhat one confirmed reading costs (this run's last reading):")
    print(f"{'item':78} {'per reading':>18} {'USD per 1,000':>14}")
    for item, quantity, usd in lines:
        print(f"{item:78} {quantity:>18} {usd * 1000:>14.4f}")
    print(f"{'total':78} {'':>18} {total * 1000:>14.4f}")
    print(f"Lambda: {gb_seconds:.3f} GB-s per reading, durations as measured here, billed per ms")
    other = {
        f"{service}.{operation}": count
        for (service, operation), count in sorted(operations.items())
        if service not in ("dynamodb", "s3", "textract", "sns", "lambda")
    }
    print(f"other AWS requests (no charge; DescribeExecution is mostly the bench's): {other}")
    print(
        f"transitions={transitions} lambda_invocations={len(invocations)} "
        f"usd_per_1000={total * 1000:.4f}"
    )


if __name__ == "__main__":
    sys.exit(main())
