"""`meter-reading`: run the pipeline locally, or read meter photos offline."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEMO_SENDER = "whatsapp:+27825550123"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="meter-reading", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run one reading through the local pipeline")
    demo.add_argument("--photo", type=Path, help="meter photo (default: a rendered sample meter)")
    demo.add_argument(
        "--reply",
        choices=["YES", "NO", "NONE"],
        default="YES",
        help="what the household answers (NONE: never answers)",
    )
    demo.add_argument(
        "--confirmation-timeout",
        type=int,
        default=None,
        metavar="SECONDS",
        help="how long to wait for the answer (default 23 h; 5 with --reply NONE)",
    )
    demo.add_argument(
        "--amqp-url", default=None, help="RabbitMQ URL (default $AMQP_URL or localhost)"
    )

    read = commands.add_parser("read", help="print the reading of each photo as a JSON line")
    read.add_argument("photos", nargs="+", type=Path)

    serve = commands.add_parser(
        "serve", help="serve the local pipeline over HTTP for Twilio (runs until Ctrl-C)"
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--public-url",
        default=None,
        help="the webhook URL Twilio calls and signs (default http://HOST:PORT/webhook)",
    )
    serve.add_argument(
        "--twilio",
        choices=["fake", "real"],
        default="fake",
        help="fake: a local Twilio API; real: Twilio's, with TWILIO_ACCOUNT_SID, "
        "TWILIO_AUTH_TOKEN and TWILIO_WHATSAPP_FROM from the environment",
    )
    serve.add_argument(
        "--amqp-url", default=None, help="RabbitMQ URL (default $AMQP_URL or localhost)"
    )
    serve.add_argument(
        "--confirmation-timeout",
        type=int,
        default=None,
        metavar="SECONDS",
        help="how long a household has to answer (default 23 h)",
    )

    args = parser.parse_args(argv)
    if args.command == "read":
        return _read(args.photos)
    if args.command == "serve":
        return _serve(args)
    return _demo(args)


def _serve(args: argparse.Namespace) -> int:
    import os

    from meter_reading.local import server
    from meter_reading.local.runtime import DEFAULT_AMQP_URL

    return server.run(
        host=args.host,
        port=args.port,
        public_url=args.public_url,
        twilio_mode=args.twilio,
        amqp_url=args.amqp_url or os.environ.get("AMQP_URL") or DEFAULT_AMQP_URL,
        confirmation_timeout_seconds=args.confirmation_timeout,
        environ=dict(os.environ),
        echo=lambda line: print(line, flush=True),
    )


def _read(photos: list[Path]) -> int:
    from meter_reading.local.ocr_engine import OfflineTextDetector
    from meter_reading.local.photo_reader import read_photo

    detector = OfflineTextDetector()
    for photo in photos:
        try:
            result = read_photo(photo, detector)
        except (OSError, ValueError) as error:
            print(
                json.dumps(
                    {
                        "file": str(photo),
                        "reading": None,
                        "confidence": 0.0,
                        "status": "unreadable",
                        "error": str(error),
                    }
                )
            )
            continue
        print(
            json.dumps(
                {
                    "file": str(photo),
                    "reading": result.reading,
                    "unit": result.unit,
                    "meter_type": result.meter_type,
                    "confidence": round(result.confidence, 3),
                    "status": result.status,
                    "reason": result.reason,
                }
            )
        )
    return 0


@dataclass
class _Line:
    at: datetime
    who: str
    text: str


def _demo(args: argparse.Namespace) -> int:
    import os

    from meter_reading.local.runtime import DEFAULT_AMQP_URL, LocalPipeline

    amqp_url = args.amqp_url or os.environ.get("AMQP_URL") or DEFAULT_AMQP_URL
    if args.photo:
        photo, photo_name = args.photo.read_bytes(), args.photo.name
    else:
        from meter_reading.local.sample_photo import render_meter_photo

        photo, photo_name = (
            render_meter_photo("03662.0"),
            "rendered sample meter showing 03662.0 kWh",
        )
    timeout = args.confirmation_timeout or (5 if args.reply == "NONE" else None)
    content_type = "image/png" if photo[:8] == b"\x89PNG\r\n\x1a\n" else "image/jpeg"

    print("Starting the local pipeline: moto (Step Functions, S3, DynamoDB, SSM), offline OCR,")
    print(f"a local Twilio API, and RabbitMQ at {_hide_password(amqp_url)}.")
    billing_queue = _BillingQueue(amqp_url)
    lines: list[_Line] = []
    # The demo prints the conversation and the states; EMF metric lines would bury them.
    with LocalPipeline(
        amqp_url=amqp_url, confirmation_timeout_seconds=timeout, emit_metrics=False
    ) as pipeline:
        started = time.monotonic()
        lines.append(_Line(_now(), "household", f"[photo: {photo_name}, {len(photo) // 1024} kB]"))
        reading_id, ack = pipeline.send_photo(DEMO_SENDER, photo, content_type)
        lines.append(_Line(_now(), "service", ack.reply_text or f"(HTTP {ack.status_code})"))
        asked = pipeline.wait_for_question(DEMO_SENDER, reading_id)
        if asked and args.reply != "NONE":
            lines.append(_Line(_now(), "household", args.reply))
            answer = pipeline.send_text(DEMO_SENDER, args.reply)
            if answer.reply_text:
                lines.append(_Line(_now(), "service", answer.reply_text))
        execution = pipeline.wait_until_finished(reading_id, timeout=(timeout or 0) + 180)
        elapsed = time.monotonic() - started
        lines.extend(
            _Line(m.sent_at, "service", m.body) for m in pipeline.twilio.messages_to(DEMO_SENDER)
        )

        print(f"\n== WhatsApp conversation with {DEMO_SENDER}")
        for line in sorted(lines, key=lambda item: item.at):
            _print_message(line)

        print(
            f"\n== Step Functions execution {reading_id}: {execution['status']} in {elapsed:.1f} s"
        )
        print(f"   {'state':<36} {'status':<10} {'seconds':>8}")
        for run in pipeline.state_runs(reading_id):
            seconds = f"{run.seconds:8.2f}" if run.seconds is not None else "       -"
            detail = f"  ({run.detail})" if run.detail else ""
            print(f"   {run.name:<36} {run.status:<10} {seconds}{detail}")

        print("\n== DynamoDB item (readings table)")
        item = pipeline.reading(reading_id)
        print(
            _indent(
                json.dumps(item, indent=2, default=_json_default, sort_keys=True)
                if item
                else "(none)"
            )
        )

        outbox = pipeline.outbox()
        if outbox:
            print("\n== Outbox (waiting for the broker)")
            print(_indent(json.dumps(outbox, indent=2, default=_json_default, sort_keys=True)))

    print("\n== Billing queue (exchange meter-readings, routing key meter.reading.confirmed)")
    print(_indent(billing_queue.drain()))
    return 0 if execution["status"] == "SUCCEEDED" else 1


class _BillingQueue:
    """A temporary queue bound to the billing exchange, as the C# consumer's would be."""

    def __init__(self, amqp_url: str) -> None:
        self.error: str | None = None
        self.queue = ""
        try:
            import pika

            from meter_reading.adapters.broker import declare_billing_topology

            self.connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
            self.channel = self.connection.channel()
            # Declared as the publisher declares it, or RabbitMQ refuses one of the two.
            declare_billing_topology(self.channel, "meter-readings")
            self.queue = self.channel.queue_declare("", exclusive=True).method.queue
            self.channel.queue_bind(self.queue, "meter-readings", routing_key="meter.reading.#")
        except Exception as error:
            self.error = f"(cannot reach RabbitMQ: {error!r})"

    def drain(self) -> str:
        if self.error:
            return self.error
        found: list[str] = []
        while True:
            method, properties, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                break
            found.append(
                f"message_id={properties.message_id} content_type={properties.content_type} "
                f"delivery_mode={properties.delivery_mode}\n"
                + json.dumps(json.loads(body), indent=2, sort_keys=True)
            )
        self.connection.close()
        return "\n".join(found) if found else "(no message)"


def _print_message(line: _Line) -> None:
    arrow = "household >" if line.who == "household" else "service   <"
    first, *rest = line.text.splitlines() or [""]
    print(f"  {line.at:%H:%M:%S} {arrow} {first}")
    for more in rest:
        print(f"  {'':8} {'':11} {more}")


def _indent(text: str) -> str:
    return "\n".join("   " + line for line in text.splitlines())


def _json_default(value: Any) -> str:
    # DynamoDB gives Decimals: shown as their exact text, never as floats.
    return str(value)


def _hide_password(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def _now() -> datetime:
    return datetime.now(UTC)


if __name__ == "__main__":
    sys.exit(main())
