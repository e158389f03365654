"""The whole pipeline on one machine: the real ASL on moto's interpreter, our handlers in-process.

S3, DynamoDB, SSM and Step Functions are moto's; Lambda, Textract and SNS calls are
served by the hooks in ``aws_hooks`` (Textract announces a finished job on the SNS topic,
whose subscriber resumes the execution); Twilio is ``FakeTwilio`` over HTTP;
RabbitMQ is a real broker.
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
from moto import mock_aws
from twilio.request_validator import RequestValidator

from meter_reading import wiring
from meter_reading.local import aws_hooks, template
from meter_reading.local.table_definitions import keyed_table, outbox_table, readings_table
from meter_reading.local.twilio_fake import FakeTwilio
from meter_reading.settings import DEFAULT_CONFIRMATION_TIMEOUT_SECONDS

DEFAULT_AMQP_URL = "amqp://guest:guest@localhost:5672/"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "local-twilio-auth-token"  # only ever used against FakeTwilio
WHATSAPP_FROM = "whatsapp:+14155238886"
WEBHOOK_HOST = "local1234.execute-api.us-east-1.amazonaws.com"
WEBHOOK_STAGE_PATH = "/Prod/webhook"
TWILIO_TOKEN_PARAMETER = "/meter-reading/twilio-auth-token"
AMQP_URL_PARAMETER = "/meter-reading/amqp-url"
FINISHED = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


def project_root() -> Path:
    """The checkout holding template.yaml (the package is installed editable from it)."""
    candidates = [Path.cwd(), *Path(__file__).resolve().parents]
    for candidate in candidates:
        if (candidate / "template.yaml").is_file() and (candidate / "statemachine").is_dir():
            return candidate
    raise FileNotFoundError("cannot find template.yaml: run from the project's checkout")


@dataclass(frozen=True)
class TwilioAccount:
    """A real Twilio account (`meter-reading serve --twilio real`)."""

    account_sid: str
    auth_token: str
    whatsapp_from: str  # "whatsapp:+14155238886", the sandbox's number


@dataclass(frozen=True)
class StateRun:
    name: str
    state_type: str
    status: str  # SUCCEEDED, FAILED, CAUGHT, TIMED_OUT, RETRIED, RUNNING
    started: datetime
    seconds: float | None
    detail: str = ""


@dataclass(frozen=True)
class WebhookResponse:
    status_code: int
    body: str

    @property
    def reply_text(self) -> str:
        """The text of the TwiML <Message>, as the user would see it on WhatsApp."""
        start, end = self.body.find("<Message>"), self.body.find("</Message>")
        if start < 0 or end < 0:
            return ""
        from html import unescape

        return unescape(self.body[start + len("<Message>") : end])


_ENV_KEYS = (
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "READINGS_TABLE",
    "CONFIRMATIONS_TABLE",
    "INBOUND_TABLE",
    "OUTBOX_TABLE",
    "TEXT_DETECTION_WAITS_TABLE",
    "TEXT_DETECTION_TOPIC_ARN",
    "TEXT_DETECTION_ROLE_ARN",
    "PHOTO_BUCKET",
    "STATE_MACHINE_ARN",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN_PARAMETER",
    "TWILIO_WHATSAPP_FROM",
    "TWILIO_API_BASE_URL",
    "TWILIO_MEDIA_HOSTS",
    "AMQP_URL_PARAMETER",
    "BILLING_EXCHANGE",
    "CONFIRMATION_TIMEOUT_SECONDS",
    "POWERTOOLS_LOG_LEVEL",
    "POWERTOOLS_TRACE_DISABLED",
    "POWERTOOLS_METRICS_DISABLED",
    "CLOUDFRONT_DOMAIN",
)


class LocalPipeline:
    def __init__(
        self,
        *,
        amqp_url: str = DEFAULT_AMQP_URL,
        billing_exchange: str = "meter-readings",
        detector: aws_hooks.TextDetector | None = None,
        confirmation_timeout_seconds: int | None = None,
        log_level: str = "WARNING",
        root: Path | None = None,
        twilio: TwilioAccount | None = None,
        auth_token: str = AUTH_TOKEN,
        run_executions: bool = True,
        emit_metrics: bool = True,
    ) -> None:
        """`twilio`: a real Twilio account to send and fetch media through (else the fake).

        `auth_token` is the fake Twilio account's token (the webhook signatures' key).
        `run_executions=False`: executions are started but never run (moto only records
        them), for tests of the webhook alone.
        `emit_metrics`: the handlers print their CloudWatch metrics (EMF) to stdout, as in
        Lambda, where CloudWatch Logs turns those lines into metrics.
        """
        self.emit_metrics = emit_metrics
        self.run_executions = run_executions
        self.confirmation_timeout_seconds = confirmation_timeout_seconds
        self.real_twilio = twilio
        self.auth_token = twilio.auth_token if twilio else auth_token
        self.root = root or project_root()
        self.amqp_url = amqp_url
        self.billing_exchange = billing_exchange
        self.log_level = log_level
        self._detector = detector
        self._stack = ExitStack()
        self.twilio = FakeTwilio(ACCOUNT_SID, self.auth_token)
        self.state_machine_arn = ""
        self.lambdas: aws_hooks.LocalLambda | None = None
        self.textract: aws_hooks.LocalTextract | None = None
        self.sns: aws_hooks.LocalSns | None = None

    # -- set-up ---------------------------------------------------------------
    def __enter__(self) -> LocalPipeline:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _start(self) -> None:
        if self.real_twilio is None:
            self._stack.enter_context(self.twilio)
        self._stack.enter_context(_environment(self._environment()))
        self._stack.enter_context(
            mock_aws(config={"stepfunctions": {"execute_state_machine": self.run_executions}})
        )
        _patch_moto_callbacks()
        if self._detector is None:
            from meter_reading.local.ocr_engine import OfflineTextDetector

            self._detector = OfflineTextDetector()
        spec = template.load_template(self.root / "template.yaml")
        functions = template.functions(spec, self.root)
        self.lambdas = aws_hooks.LocalLambda(
            {name: template.load_handler(f) for name, f in functions.items()}
        )
        self.textract = textract = aws_hooks.LocalTextract(self._detector)
        self.sns = aws_hooks.LocalSns(
            self.lambdas,
            {
                _topic_arn(topic): functions
                for topic, functions in template.sns_subscriptions(spec).items()
            },
        )
        self._stack.callback(self.sns.join)
        self._stack.callback(textract.shutdown)
        # moto swapped boto3's default session; hook the one every client now comes from.
        uninstall = aws_hooks.install(
            boto3._get_default_session(), self.lambdas, textract, self.sns
        )
        self._stack.callback(uninstall)
        wiring.reset()
        self._stack.callback(wiring.reset)
        self._create_resources()
        definition = (self.root / "statemachine" / "meter_reading.asl.json").read_text()
        arns = {
            key: f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{logical_id}"
            for key, logical_id in template.state_machine_substitutions(spec).items()
        }
        sfn = boto3.client("stepfunctions")
        self.state_machine_arn = sfn.create_state_machine(
            name="meter-reading",
            definition=template.substitute(definition, arns),
            roleArn="arn:aws:iam::123456789012:role/meter-reading-state-machine",
            type="STANDARD",
        )["stateMachineArn"]
        os.environ["STATE_MACHINE_ARN"] = self.state_machine_arn

    def _environment(self) -> dict[str, str]:
        real = self.real_twilio
        return {
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "READINGS_TABLE": "meter-readings",
            "CONFIRMATIONS_TABLE": "meter-confirmations",
            "INBOUND_TABLE": "meter-inbound-messages",
            "OUTBOX_TABLE": "meter-outbox",
            "TEXT_DETECTION_WAITS_TABLE": "meter-text-detection-waits",
            "TEXT_DETECTION_TOPIC_ARN": _topic_arn("TextDetectionTopic"),
            "TEXT_DETECTION_ROLE_ARN": f"arn:aws:iam::{ACCOUNT_ID}:role/TextractPublishRole",
            "PHOTO_BUCKET": "meter-photos-local",
            "TWILIO_ACCOUNT_SID": real.account_sid if real else ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN_PARAMETER": TWILIO_TOKEN_PARAMETER,
            "TWILIO_WHATSAPP_FROM": real.whatsapp_from if real else WHATSAPP_FROM,
            # Empty: api.twilio.com and Twilio's media hosts, as in AWS.
            "TWILIO_API_BASE_URL": "" if real else self.twilio.base_url,
            "TWILIO_MEDIA_HOSTS": "" if real else self.twilio.host,
            "AMQP_URL_PARAMETER": AMQP_URL_PARAMETER,
            "BILLING_EXCHANGE": self.billing_exchange,
            "POWERTOOLS_LOG_LEVEL": self.log_level,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "false" if self.emit_metrics else "true",
            "CLOUDFRONT_DOMAIN": "",
            "CONFIRMATION_TIMEOUT_SECONDS": str(
                self.confirmation_timeout_seconds or DEFAULT_CONFIRMATION_TIMEOUT_SECONDS
            ),
        }

    def _create_resources(self) -> None:
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=os.environ["PHOTO_BUCKET"])
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(**readings_table(os.environ["READINGS_TABLE"]))
        dynamodb.create_table(**keyed_table(os.environ["CONFIRMATIONS_TABLE"], "sender"))
        dynamodb.create_table(**keyed_table(os.environ["INBOUND_TABLE"], "message_sid"))
        dynamodb.create_table(**outbox_table(os.environ["OUTBOX_TABLE"]))
        dynamodb.create_table(**keyed_table(os.environ["TEXT_DETECTION_WAITS_TABLE"], "reading_id"))
        ssm = boto3.client("ssm")
        ssm.put_parameter(Name=TWILIO_TOKEN_PARAMETER, Value=self.auth_token, Type="SecureString")
        ssm.put_parameter(Name=AMQP_URL_PARAMETER, Value=self.amqp_url, Type="SecureString")

    def set_amqp_url(self, url: str) -> None:
        """Point the publishers at another broker URL (as ops would by updating the parameter)."""
        boto3.client("ssm").put_parameter(
            Name=AMQP_URL_PARAMETER, Value=url, Type="SecureString", Overwrite=True
        )
        from aws_lambda_powertools.utilities import parameters

        parameters.clear_caches()  # type: ignore[no-untyped-call]
        self.amqp_url = url

    # -- what Twilio does -------------------------------------------------------
    def deliver_webhook(
        self, form: dict[str, str], signature: str | None = None
    ) -> WebhookResponse:
        """POST a Twilio webhook through an API Gateway proxy event to the receive function."""
        url = f"https://{WEBHOOK_HOST}{WEBHOOK_STAGE_PATH}"
        if signature is None:
            signature = RequestValidator(self.auth_token).compute_signature(url, form)
        return self.deliver_raw(urlencode(form).encode(), signature, url)

    def deliver_raw(self, body: bytes, signature: str, public_url: str) -> WebhookResponse:
        """A webhook as Twilio posted it to `public_url`, as API Gateway hands it to the function.

        The event carries the public URL's scheme, host, path and query, so the function
        checks the signature against the URL Twilio signed. A handler exception is a 502.
        """
        parts = urlsplit(public_url)
        query = parse_qs(parts.query, keep_blank_values=True) or None
        event = {
            "resource": "/webhook",
            "path": "/webhook",
            "httpMethod": "POST",
            "headers": {
                "Host": parts.netloc,
                "X-Forwarded-Proto": parts.scheme,
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature,
                "User-Agent": "TwilioProxy/1.1",
            },
            "multiValueHeaders": {},
            "queryStringParameters": {k: v[-1] for k, v in query.items()} if query else None,
            "multiValueQueryStringParameters": query,
            "requestContext": {"path": parts.path, "stage": "Prod", "httpMethod": "POST"},
            "body": base64.b64encode(body).decode(),
            "isBase64Encoded": True,
        }
        assert self.lambdas is not None
        result, error = self.lambdas.invoke("ReceiveFunction", event)
        if error is not None:
            return WebhookResponse(502, json.dumps(error))
        return WebhookResponse(int(result["statusCode"]), str(result["body"]))

    def photo_webhook(
        self, sender: str, photo: bytes, content_type: str = "image/jpeg"
    ) -> dict[str, str]:
        """The form Twilio posts for a WhatsApp photo, with the photo held at a Twilio media URL."""
        message_sid = "MM" + uuid.uuid4().hex
        media_url = self.twilio.add_media(message_sid, photo, content_type)
        return {
            **_base_form(message_sid, sender),
            "Body": "",
            "NumMedia": "1",
            "MediaUrl0": media_url,
            "MediaContentType0": content_type,
        }

    def text_webhook(self, sender: str, text: str) -> dict[str, str]:
        return {**_base_form("SM" + uuid.uuid4().hex, sender), "Body": text, "NumMedia": "0"}

    def send_photo(
        self, sender: str, photo: bytes, content_type: str = "image/jpeg"
    ) -> tuple[str, WebhookResponse]:
        form = self.photo_webhook(sender, photo, content_type)
        return form["MessageSid"], self.deliver_webhook(form)

    def send_text(self, sender: str, text: str) -> WebhookResponse:
        return self.deliver_webhook(self.text_webhook(sender, text))

    def intercept(self, event_name: str, hook: Callable[..., Any]) -> Callable[[], None]:
        """Register a botocore hook (e.g. "before-call.dynamodb.*") ahead of the local ones,
        for every client from now on; returns the function that removes it.

        A `before-call` hook that returns `(http_response, parsed)` answers the call in AWS's
        place: how the tests make DynamoDB, Textract or Lambda fail as AWS would.
        """
        events = boto3._get_default_session().events
        unique_id = f"meter-reading-intercept:{uuid.uuid4().hex}"
        events.register_first(event_name, hook, unique_id=unique_id)
        # Clients copy the session's hooks when they are made: make the handlers' anew.
        wiring.reset()
        return lambda: events.unregister(event_name, unique_id=unique_id)

    # -- what ops see -----------------------------------------------------------
    def execution_arn(self, reading_id: str) -> str:
        return self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{reading_id}"

    def describe(self, reading_id: str) -> dict[str, Any]:
        result: dict[str, Any] = _sfn().describe_execution(
            executionArn=self.execution_arn(reading_id)
        )
        return result

    def executions(self) -> list[dict[str, Any]]:
        """Every execution, newest first."""
        found: list[dict[str, Any]] = []
        request: dict[str, Any] = {"stateMachineArn": self.state_machine_arn, "maxResults": 1000}
        while True:
            page = _sfn().list_executions(**request)
            found.extend(page["executions"])
            if not page.get("nextToken"):
                break
            request["nextToken"] = page["nextToken"]
        return sorted(found, key=lambda execution: execution["startDate"], reverse=True)

    def history(self, reading_id: str) -> list[dict[str, Any]]:
        """The execution's GetExecutionHistory events, oldest first."""
        events: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "executionArn": self.execution_arn(reading_id),
            "maxResults": 1000,
        }
        while True:
            page = _sfn().get_execution_history(**request)
            events.extend(page["events"])
            if not page.get("nextToken"):
                return events
            request["nextToken"] = page["nextToken"]

    def readings_of(self, sender: str, limit: int = 100) -> list[dict[str, Any]]:
        """The household's readings, newest first (the readings table's index by household)."""
        return wiring.readings().recent(sender, limit)

    def wait_until_finished(self, reading_id: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            description = self.describe(reading_id)
            if description["status"] in FINISHED or time.monotonic() > deadline:
                return description
            time.sleep(0.2)

    def wait_for_question(self, sender: str, reading_id: str, timeout: float = 120) -> bool:
        """True once the household has been asked about this reading; False if it never was."""
        assert self.lambdas is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.lambdas.wait_for("AskConfirmationFunction", reading_id, timeout=0.2):
                return True
            if self.describe(reading_id)["status"] in FINISHED:
                return self.lambdas.wait_for("AskConfirmationFunction", reading_id, timeout=0)
        return False

    def reading(self, reading_id: str) -> dict[str, Any] | None:
        table = boto3.resource("dynamodb").Table(os.environ["READINGS_TABLE"])
        item: dict[str, Any] | None = table.get_item(Key={"reading_id": reading_id}).get("Item")
        return item

    def outbox(self) -> list[dict[str, Any]]:
        table = boto3.resource("dynamodb").Table(os.environ["OUTBOX_TABLE"])
        items: list[dict[str, Any]] = table.scan()["Items"]
        return items

    def run_outbox_retry(self) -> Any:
        """What the 2-minute schedule does: one invocation of outbox_retry."""
        assert self.lambdas is not None
        result, error = self.lambdas.invoke("OutboxRetryFunction", {"source": "aws.events"})
        if error is not None:
            raise RuntimeError(
                f"outbox_retry failed: {error['errorType']}: {error['errorMessage']}"
            )
        return result

    def state_runs(self, reading_id: str) -> list[StateRun]:
        return summarise_history(self.history(reading_id))


def summarise_history(events: list[dict[str, Any]]) -> list[StateRun]:
    """One line per state visited, with how it ended: what ops read in the console's graph."""
    runs: list[StateRun] = []
    current: dict[str, Any] | None = None
    for event in events:
        kind: str = event["type"]
        if kind.endswith("StateEntered"):
            current = {
                "name": event["stateEnteredEventDetails"]["name"],
                "type": kind.removesuffix("StateEntered"),
                "started": event["timestamp"],
                "failures": [],
                "last_outcome": None,
            }
        elif current is None:
            continue
        elif kind in ("TaskFailed", "LambdaFunctionFailed"):
            details = (
                event.get("taskFailedEventDetails")
                or event.get("lambdaFunctionFailedEventDetails")
                or {}
            )
            current["failures"].append(details.get("error", "error"))
            current["last_outcome"] = "failed"
        elif kind in ("TaskTimedOut", "LambdaFunctionTimedOut"):
            current["failures"].append("States.Timeout")
            current["last_outcome"] = "timed_out"
        elif kind in ("TaskSucceeded", "LambdaFunctionSucceeded"):
            current["last_outcome"] = "succeeded"
        elif kind.endswith("StateExited"):
            runs.append(_state_run(current, event["timestamp"]))
            current = None
        elif kind in ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"):
            current["last_outcome"] = current["last_outcome"] or "failed"
            runs.append(_state_run(current, event["timestamp"], exited=False))
            current = None
    if current is not None:
        runs.append(_state_run(current, None, exited=False))
    return runs


def _state_run(current: dict[str, Any], ended: datetime | None, exited: bool = True) -> StateRun:
    failures: list[str] = current["failures"]
    outcome = current["last_outcome"]
    seconds = (ended - current["started"]).total_seconds() if ended else None
    detail = ""
    if failures:
        detail = f"{len(failures)} failed attempt(s): {', '.join(dict.fromkeys(failures))}"
    if current["type"] == "Fail":
        status = "FAILED"
    elif ended is None:
        status = "RUNNING"
    elif outcome == "timed_out":
        status = "TIMED_OUT"
    elif outcome == "failed":
        # Left by a Catch (exited) or ended the execution (not exited).
        status = "CAUGHT" if exited else "FAILED"
    else:
        status = "SUCCEEDED"
    return StateRun(current["name"], current["type"], status, current["started"], seconds, detail)


def _sfn() -> Any:
    return boto3.client("stepfunctions")


def _topic_arn(logical_id: str) -> str:
    """A topic of template.yaml, named after its logical id (as the local Lambdas are)."""
    return f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{logical_id}"


_moto_patched = False


def _patch_moto_callbacks() -> None:
    """Two gaps of moto 5.2.5's Step Functions interpreter that a callback step meets.

    - `SendTaskFailure` drops its `cause` between the API and the interpreter (the
      interpreter takes one): the failed Textract job's message would be lost.
    - A task with `HeartbeatSeconds` only sets up its heartbeat watch once the Lambda it
      invoked has returned; an outcome sent before that (a job that failed at once) set no
      watch and was missed until the heartbeat timed out. In AWS the outcome wins.
    Both are fixed here, once per process, leaving the rest of moto as it is.
    """
    global _moto_patched
    if _moto_patched:
        return
    from moto.core.responses import EmptyResult
    from moto.stepfunctions.parser.asl.eval.callback.callback import (
        CallbackEndpoint,
        HeartbeatEndpoint,
    )
    from moto.stepfunctions.responses import StepFunctionResponse

    def send_task_failure(self: Any) -> Any:
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"),
            error=self._get_param("error"),
            cause=self._get_param("cause"),
        )
        return EmptyResult()

    setup = CallbackEndpoint.setup_heartbeat_endpoint

    def setup_heartbeat_endpoint(self: Any, heartbeat_seconds: int) -> HeartbeatEndpoint:
        endpoint: HeartbeatEndpoint = setup(self, heartbeat_seconds=heartbeat_seconds)
        if self.get_outcome() is not None:
            endpoint.notify()  # type: ignore[no-untyped-call]
        return endpoint

    StepFunctionResponse.send_task_failure = send_task_failure  # type: ignore[method-assign]
    CallbackEndpoint.setup_heartbeat_endpoint = (  # type: ignore[method-assign]
        setup_heartbeat_endpoint
    )
    _moto_patched = True


def _base_form(message_sid: str, sender: str) -> dict[str, str]:
    return {
        "MessageSid": message_sid,
        "SmsMessageSid": message_sid,
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "To": WHATSAPP_FROM,
        "WaId": sender.removeprefix("whatsapp:+"),
        "ProfileName": "Household",
        "ApiVersion": "2010-04-01",
    }


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in _ENV_KEYS}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
