"""`meter-reading serve`: the local pipeline behind an HTTP server that Twilio can call.

    POST /webhook                       Twilio's form post (X-Twilio-Signature checked)
    POST /local/media                   fake Twilio only: hold a photo, answer its media URL
    GET  /local/messages?to=whatsapp:+… fake Twilio only: what that household received
    GET  /                              the console: executions, readings, the outbox
    GET  /api/readings[?sender=whatsapp:+…] readings (one household's, or all), newest first
    GET  /api/readings/<id>/photo       the reading's photo
    GET  /api/executions                the executions, newest first, with their outcome
    GET  /api/executions/<name>         one execution: graph, states, reading, error
    GET  /api/executions/<name>/history that execution's GetExecutionHistory events
    POST /api/executions/<name>/redrive run a failed reading again (a new execution)
    GET  /api/outbox                    the billing outbox, newest first
    POST /api/outbox/drain              what the 2-minute schedule does: publish PENDING rows

The webhook goes to the receive function exactly as API Gateway would hand it over; a
handler exception is answered 502, as API Gateway answers it.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from botocore.exceptions import ClientError

from meter_reading.domain.privacy import mask_phone
from meter_reading.local import console
from meter_reading.local.runtime import FINISHED, LocalPipeline
from meter_reading.local.twilio_fake import SentMessage

MAX_BODY_BYTES = 16 * 1024 * 1024
CONSOLE_PAGE = Path(__file__).with_name("console.html")
WATCH_INTERVAL_SECONDS = 0.5


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", "replace")
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def reading_view(item: dict[str, Any]) -> dict[str, Any]:
    """A reading as /api/readings shows it: the value billing gets, and OCR's beside it."""
    return {
        "reading_id": item["reading_id"],
        "status": item.get("status"),
        "reading": item.get("reading_text"),
        "unit": item.get("unit"),
        "source": item.get("source", "ocr"),
        "created_at": item.get("created_at"),
        "confirmed_at": item.get("confirmed_at"),
        "ocr_reading": item.get("ocr_reading_text"),
        "ocr_status": item.get("ocr_status"),
        "meter_type": item.get("meter_type"),
        "plausibility_problem": item.get("plausibility_problem"),
        "status_detail": item.get("status_detail"),
        "household": mask_phone(str(item["sender"])) if item.get("sender") else None,
        "photo_url": f"/api/readings/{item['reading_id']}/photo" if item.get("s3_key") else None,
    }


def execution_view(execution: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": execution["name"],
        "status": execution["status"],
        "start_date": execution["startDate"],
        "stop_date": execution.get("stopDate"),
        "execution_arn": execution["executionArn"],
    }


class _Server(ThreadingHTTPServer):
    # Many households at once: the default backlog of 5 resets connections under a burst.
    request_queue_size = 128


class WebhookServer:
    """Serves one running LocalPipeline over HTTP until `stop()` (Ctrl-C in the CLI)."""

    def __init__(
        self,
        pipeline: LocalPipeline,
        host: str = "127.0.0.1",
        port: int = 8080,
        public_url: str | None = None,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self._echo = echo
        self._echo_lock = threading.Lock()
        self._http = _Server((host, port), _handler_for(self))
        self._http.daemon_threads = True
        bound_host, bound_port = self._http.server_address[:2]
        self.local_url = f"http://{bound_host!s}:{bound_port}"
        self.public_url = public_url or f"{self.local_url}/webhook"
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self.fake_twilio = pipeline.real_twilio is None

    # -- life cycle -----------------------------------------------------------
    def start(self) -> WebhookServer:
        if self.fake_twilio:
            self.pipeline.twilio.observers.append(self._print_sent)
        else:
            assert self.pipeline.lambdas is not None
            self.pipeline.lambdas.observers.append(self._print_real_send)
        for target, name in ((self._http.serve_forever, "webhook-server"), (self._watch, "watch")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._http.shutdown()
        self._http.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> WebhookServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what it prints -------------------------------------------------------
    def echo(self, line: str) -> None:
        if self._echo is None:
            return
        with self._echo_lock:
            self._echo(f"{datetime.now(UTC):%H:%M:%S} {line}")

    def _print_sent(self, message: SentMessage) -> None:
        self._turn(message.to, "<", message.body)

    def _print_real_send(
        self, function: str, payload: dict[str, Any], result: Any, error: dict[str, Any] | None
    ) -> None:
        if function not in ("AskConfirmationFunction", "SendMessageFunction"):
            return
        kind = payload.get("message", "confirmation prompt")
        outcome = (
            f"error {error['errorType']}" if error else f"Twilio sid {result.get('message_sid')}"
        )
        self.echo(f"reading {payload.get('reading_id')} < {kind} sent through Twilio ({outcome})")

    def _turn(self, household: str, arrow: str, text: str) -> None:
        first, *rest = text.splitlines() or [""]
        lines = [f"{mask_phone(household)} {arrow} {first}"]
        lines += [f"{'':{len(mask_phone(household)) + 11}}{more}" for more in rest]
        self.echo("\n".join(lines))

    def _watch(self) -> None:
        """Print each execution's outcome once it has one."""
        seen: dict[str, str] = {}
        while not self._stopping.wait(WATCH_INTERVAL_SECONDS):
            try:
                executions = self.pipeline.executions()
            except Exception as error:  # never let the printer take the server down
                self.echo(f"(cannot list executions: {error!r})")
                continue
            for execution in executions:
                name, status = execution["name"], execution["status"]
                if seen.get(name) == status:
                    continue
                seen[name] = status
                if status in FINISHED:
                    self._print_outcome(execution)
                else:
                    self.echo(f"execution {name} {status}")

    def _print_outcome(self, execution: dict[str, Any]) -> None:
        name = execution["name"]
        runs = self.pipeline.state_runs(name)
        last = runs[-1].name if runs else "?"
        seconds = (execution["stopDate"] - execution["startDate"]).total_seconds()
        self.echo(f"execution {name} {execution['status']} in {seconds:.1f} s: {last}")

    # -- requests -------------------------------------------------------------
    def webhook(self, body: bytes, signature: str, query: str) -> tuple[int, str, str]:
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        sender = form.get("From", "?")
        if form.get("NumMedia", "0") not in ("", "0"):
            self._turn(sender, ">", f"[photo {form.get('MessageSid', '')}] {form.get('Body', '')}")
        else:
            self._turn(sender, ">", form.get("Body", ""))
        url = self.public_url + (f"?{query}" if query else "")
        response = self.pipeline.deliver_raw(body, signature, url)
        if response.status_code == 200:
            self._turn(sender, "<", response.reply_text or "(no text: the pipeline answers)")
            return 200, response.body, "text/xml; charset=utf-8"
        self.echo(f"webhook answered {response.status_code}")
        return response.status_code, response.body, "text/plain; charset=utf-8"

    def api(self, path: str, query: dict[str, list[str]]) -> Any:
        """The JSON for a GET, or None for a path we do not serve."""
        if path == "/api/readings":
            sender = (query.get("sender") or [""])[-1]
            items = self.pipeline.readings_of(sender) if sender else console.all_readings()
            return [reading_view(item) for item in items]
        if path == "/api/executions":
            return [
                execution_view(e) | console.execution_summary(self.pipeline, e)
                for e in self.pipeline.executions()
            ]
        if path == "/api/outbox":
            return console.outbox_view(self.pipeline)
        parts = [unquote(part) for part in path.strip("/").split("/")]
        if len(parts) in (3, 4) and parts[:2] == ["api", "executions"]:
            try:
                if len(parts) == 3:
                    return console.execution_detail(self.pipeline, parts[2])
                if parts[3] == "history":
                    return self.pipeline.history(parts[2])
            except ClientError as error:
                if error.response["Error"]["Code"] == "ExecutionDoesNotExist":
                    return None
                raise
        if self.fake_twilio and path == "/local/messages":
            to = (query.get("to") or [""])[-1]
            return [
                {"sid": m.sid, "to": m.to, "from": m.from_, "body": m.body, "time": m.sent_at}
                for m in self.pipeline.twilio.messages_to(to)
            ]
        return None

    def photo(self, reading_id: str) -> tuple[bytes, str] | None:
        """The reading's photo and its type, from the photo bucket."""
        item = self.pipeline.reading(reading_id)
        if not item or not item.get("s3_key"):
            return None
        import boto3

        stored = boto3.client("s3").get_object(
            Bucket=os.environ["PHOTO_BUCKET"], Key=str(item["s3_key"])
        )
        return stored["Body"].read(), str(stored.get("ContentType") or "image/jpeg")

    def act(self, path: str) -> tuple[int, Any] | None:
        """A console button's POST: drain the outbox, or redrive a failed reading."""
        if path == "/api/outbox/drain":
            return 200, self.pipeline.run_outbox_retry()
        parts = [unquote(part) for part in path.strip("/").split("/")]
        if len(parts) == 4 and parts[:2] == ["api", "executions"] and parts[3] == "redrive":
            try:
                redriven = console.redrive(self.pipeline, parts[2])
            except console.NotRedrivable as refused:
                return 409, {"error": str(refused)}
            except ClientError as error:
                if error.response["Error"]["Code"] == "ExecutionDoesNotExist":
                    return 404, {"error": f"no execution {parts[2]}"}
                raise
            self.echo(f"execution {parts[2]} redriven as {redriven['name']}")
            return 201, redriven
        return None


def _handler_for(server: WebhookServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the server prints conversation turns instead

        def _reply(self, status: int, body: str | bytes, content_type: str) -> None:
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _json(self, status: int, value: Any) -> None:
            body = json.dumps(value, default=_json_default, ensure_ascii=False)
            self._reply(status, body, "application/json; charset=utf-8")

        def _body(self) -> bytes | None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._json(413, {"error": "body too large"})
                return None
            return self.rfile.read(length)

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            body = self._body()
            if body is None:
                return
            try:
                if parts.path == "/webhook":
                    signature = self.headers.get("X-Twilio-Signature", "")
                    self._reply(*server.webhook(body, signature, parts.query))
                elif parts.path == "/local/media" and server.fake_twilio:
                    content_type = self.headers.get("Content-Type", "image/jpeg").split(";")[0]
                    url = server.pipeline.twilio.add_media(None, body, content_type)
                    self._json(201, {"url": url})
                elif (acted := server.act(parts.path)) is not None:
                    self._json(*acted)
                else:
                    self._json(404, {"error": f"no POST {parts.path}"})
            except Exception as error:
                server.echo(f"POST {parts.path} failed: {error!r}")
                self._json(502, {"error": type(error).__name__})

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path in ("/", "/index.html"):
                self._reply(200, CONSOLE_PAGE.read_bytes(), "text/html; charset=utf-8")
                return
            segments = parts.path.strip("/").split("/")
            if len(segments) == 4 and segments[:2] + segments[3:] == ["api", "readings", "photo"]:
                photo = server.photo(unquote(segments[2]))
                if photo is None:
                    self._json(404, {"error": "no photo"})
                else:
                    self._reply(200, *photo)
                return
            try:
                value = server.api(parts.path, parse_qs(parts.query))
            except Exception as error:
                server.echo(f"GET {parts.path} failed: {error!r}")
                self._json(502, {"error": type(error).__name__})
                return
            if value is None:
                self._json(404, {"error": f"no GET {parts.path}"})
            else:
                self._json(200, value)

    return Handler


def run(
    *,
    host: str,
    port: int,
    public_url: str | None,
    twilio_mode: str,
    amqp_url: str,
    confirmation_timeout_seconds: int | None,
    environ: dict[str, str],
    echo: Callable[[str], None] = print,
    ready: threading.Event | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Start the pipeline and the server; serve until Ctrl-C (or `stop` is set)."""
    import secrets

    from meter_reading.local.runtime import TwilioAccount

    account: TwilioAccount | None = None
    token = environ.get("TWILIO_AUTH_TOKEN", "")
    if twilio_mode == "real":
        missing = [
            name
            for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_WHATSAPP_FROM")
            if not environ.get(name)
        ]
        if missing:
            echo(f"--twilio real needs {', '.join(missing)} in the environment")
            return 2
        account = TwilioAccount(
            environ["TWILIO_ACCOUNT_SID"], token, environ["TWILIO_WHATSAPP_FROM"]
        )
    elif not token:
        token = secrets.token_hex(16)
        echo(f"TWILIO_AUTH_TOKEN is not set: signing key for this run is {token}")

    echo("Starting the local pipeline: moto (Step Functions, S3, DynamoDB, SSM), offline OCR,")
    echo(
        f"{'Twilio' if account else 'a local Twilio fake'}, RabbitMQ at {_hide_password(amqp_url)}"
    )
    with (
        LocalPipeline(
            amqp_url=amqp_url,
            confirmation_timeout_seconds=confirmation_timeout_seconds,
            twilio=account,
            auth_token=token,
            # The console shows what happened; EMF lines would drown the conversation turns.
            emit_metrics=False,
        ) as pipeline,
        WebhookServer(pipeline, host, port, public_url, echo=echo) as server,
    ):
        echo(f"Listening on {server.local_url}; Twilio signs for {server.public_url}")
        if server.fake_twilio:
            fake = pipeline.twilio.base_url
            echo(f"Fake Twilio at {fake} (POST /local/media, GET /local/messages)")
        echo("Ctrl-C to stop.")
        if ready is not None:
            ready.set()
        waiter = stop or threading.Event()
        try:
            while not waiter.wait(0.5):
                pass
        except KeyboardInterrupt:
            echo("Stopping.")
    return 0


def _hide_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url
