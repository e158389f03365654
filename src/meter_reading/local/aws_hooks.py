"""Serve Lambda, Textract and SNS calls in-process, the way botocore's Stubber does.

A ``before-call`` handler that returns ``(http_response, parsed)`` answers a call
without it ever being sent. Moto's Step Functions interpreter invokes our Lambdas
with ``lambda.Invoke``; the OCR Lambda calls Textract; Textract publishes a job's end
to SNS, which invokes the topic's subscribers as SNS would; all of it lands here.
"""

from __future__ import annotations

import io
import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

import boto3
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.response import StreamingBody

from meter_reading.domain.text_detection import notice_message

Handler = Callable[[dict[str, Any], Any], Any]
_PARAMS_KEY = "meter_reading_local_params"


class TextDetector(Protocol):
    def detect(self, image_bytes: bytes) -> list[dict[str, Any]]: ...


@dataclass
class LocalLambdaContext:
    """What Powertools reads from the real Lambda context object."""

    function_name: str
    aws_request_id: str
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@dataclass(frozen=True)
class Invocation:
    """One Lambda invocation being served: which function, with which payload."""

    function: str
    payload: dict[str, Any]


_current_invocation: ContextVar[Invocation | None] = ContextVar(
    "meter_reading_local_invocation", default=None
)


def current_invocation() -> Invocation | None:
    """The invocation the calling thread is serving, if any.

    An AWS call a handler makes runs in the handler's thread, so a botocore hook can tell
    which step made it (the tests inject faults into one step this way).
    """
    return _current_invocation.get()


def _stash_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context[_PARAMS_KEY] = params


def _answer(parsed: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
    parsed.setdefault("ResponseMetadata", {"HTTPStatusCode": 200, "RequestId": str(uuid.uuid4())})
    return AWSResponse("http://local", 200, HTTPHeaders(), None), parsed


def _streaming(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


class LocalLambda:
    """Runs our handlers for ``lambda:Invoke``; exceptions become ``FunctionError: Unhandled``."""

    def __init__(self, handlers: dict[str, Handler]) -> None:
        self.handlers = handlers
        self.invocations: list[tuple[str, dict[str, Any]]] = []
        # Called after each invocation with (function, payload, result, error payload or None).
        self.observers: list[Callable[[str, dict[str, Any], Any, dict[str, Any] | None], None]] = []
        self.finished: list[tuple[str, dict[str, Any], Any, dict[str, Any] | None]] = []
        #: (function, seconds) of each invocation, in the order they ended.
        self.durations: list[tuple[str, float]] = []
        self._finished_changed = threading.Condition()

    def invoke(
        self, function_name: str, payload: dict[str, Any]
    ) -> tuple[Any, dict[str, Any] | None]:
        """(result, error payload or None), as the Lambda service would report them."""
        name = function_name.rsplit(":", 1)[-1]
        handler = self.handlers.get(name)
        if handler is None:
            raise KeyError(f"no local handler for Lambda function {name!r}")
        self.invocations.append((name, payload))
        result: Any = None
        error_payload: dict[str, Any] | None = None
        serving = _current_invocation.set(Invocation(name, payload))
        began = time.perf_counter()
        try:
            result = handler(payload, LocalLambdaContext(name, str(uuid.uuid4())))
        except Exception as error:
            error_payload = {
                "errorType": type(error).__name__,
                "errorMessage": str(error),
                "stackTrace": traceback.format_exception(error)[-5:],
            }
        finally:
            _current_invocation.reset(serving)
        seconds = time.perf_counter() - began
        with self._finished_changed:
            self.durations.append((name, seconds))
            self.finished.append((name, payload, result, error_payload))
            self._finished_changed.notify_all()
        for observer in self.observers:
            observer(name, payload, result, error_payload)
        return result, error_payload

    def wait_for(
        self, function_name: str, reading_id: str, timeout: float, succeeded: bool = True
    ) -> bool:
        """Has `function_name` run (and succeeded) for this reading, within `timeout`?"""

        def done() -> bool:
            return any(
                name == function_name
                and payload.get("reading_id") == reading_id
                and (error is None or not succeeded)
                for name, payload, _result, error in self.finished
            )

        with self._finished_changed:
            return self._finished_changed.wait_for(done, timeout)

    def on_invoke(self, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        params = context[_PARAMS_KEY]
        raw_payload = params.get("Payload") or b"{}"
        payload = json.loads(
            raw_payload.decode() if isinstance(raw_payload, bytes) else raw_payload
        )
        result, error = self.invoke(params["FunctionName"], payload)
        response: dict[str, Any] = {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
        if error is not None:
            response["FunctionError"] = "Unhandled"
            response["Payload"] = _streaming(json.dumps(error).encode())
        else:
            response["Payload"] = _streaming(json.dumps(result, default=str).encode())
        return _answer(response)


class LocalSns:
    """SNS ``Publish`` to a topic with Lambda subscribers: each subscriber is invoked
    asynchronously with SNS's event, in a thread of its own, as SNS does; a failed
    invocation is retried twice (Lambda's asynchronous retries, here 1 s apart)."""

    def __init__(self, lambdas: LocalLambda, subscriptions: dict[str, list[str]]) -> None:
        self.lambdas = lambdas
        self.subscriptions = subscriptions  # topic ARN -> subscribed function names
        self.retry_delay_seconds = 1.0
        self.published: list[tuple[str, str]] = []  # (topic ARN, message)
        self._threads: list[threading.Thread] = []

    def on_publish(self, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        params = context[_PARAMS_KEY]
        topic, message = params["TopicArn"], params["Message"]
        message_id = str(uuid.uuid4())
        self.published.append((topic, message))
        for function in self.subscriptions.get(topic, []):
            event = sns_event(topic, message, message_id, params.get("Subject"))
            thread = threading.Thread(
                target=self._deliver, args=(function, event), name=f"local-sns-{function}"
            )
            self._threads.append(thread)
            thread.start()
        return _answer({"MessageId": message_id})

    def _deliver(self, function: str, event: dict[str, Any]) -> None:
        for attempt in range(3):
            _result, error = self.lambdas.invoke(function, event)
            if error is None:
                return
            if attempt < 2:
                time.sleep(self.retry_delay_seconds)

    def join(self, timeout: float = 10) -> None:
        for thread in list(self._threads):
            thread.join(timeout)


def sns_event(topic: str, message: str, message_id: str, subject: str | None) -> dict[str, Any]:
    """The event SNS invokes a subscribed Lambda function with."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{topic}:{uuid.uuid4()}",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": message_id,
                    "TopicArn": topic,
                    "Subject": subject,
                    "Message": message,
                    "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                    "SignatureVersion": "1",
                    "Signature": "",
                    "SigningCertUrl": "",
                    "UnsubscribeUrl": "",
                    "MessageAttributes": {},
                },
            }
        ]
    }


class LocalTextract:
    """Textract's asynchronous text detection, answered by an offline OCR engine.

    Detection runs in a worker thread. When it ends, the job's completion is published to
    the job's NotificationChannel topic (SNS), as Textract does, never before the start
    call has returned; GetDocumentTextDetection then has the blocks.
    """

    def __init__(self, detector: TextDetector) -> None:
        self.detector = detector
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-textract")
        self._jobs: dict[str, Future[list[dict[str, Any]]]] = {}
        self._jobs_by_token: dict[str, str] = {}
        self._lock = threading.Lock()
        #: Seconds each job's OCR took, by job id (the benchmark's split).
        self.ocr_seconds: dict[str, float] = {}
        #: How long each DetectDocumentText call's OCR took, in call order.
        self.detect_seconds: list[float] = []

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def on_start(self, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        params = context[_PARAMS_KEY]
        location = params["DocumentLocation"]["S3Object"]
        token = params.get("ClientRequestToken")
        with self._lock:
            if token and token in self._jobs_by_token:
                return _answer({"JobId": self._jobs_by_token[token]})
            # Read the object as Textract would, with the caller's S3 (moto's, here).
            image = boto3.client("s3").get_object(Bucket=location["Bucket"], Key=location["Name"])
            job_id = uuid.uuid4().hex
            started = threading.Event()
            job = self._pool.submit(self._detect, job_id, image["Body"].read())
            self._jobs[job_id] = job
            channel = params.get("NotificationChannel")
            if channel:
                notice = (
                    channel["SNSTopicArn"],
                    job_id,
                    params.get("JobTag", ""),
                    location["Bucket"],
                    location["Name"],
                )
                # In a thread of its own: a job already done runs the callback right here.
                job.add_done_callback(
                    lambda done: threading.Thread(
                        target=self._announce, args=(done, started, *notice), daemon=True
                    ).start()
                )
            if token:
                self._jobs_by_token[token] = job_id
        started.set()  # the start call returns first, then the job may be announced
        return _answer({"JobId": job_id})

    def _detect(self, job_id: str, image: bytes) -> list[dict[str, Any]]:
        began = time.perf_counter()
        try:
            return self.detector.detect(image)
        finally:
            self.ocr_seconds[job_id] = time.perf_counter() - began

    def _announce(
        self,
        job: Future[list[dict[str, Any]]],
        started: threading.Event,
        topic: str,
        job_id: str,
        job_tag: str,
        bucket: str,
        key: str,
    ) -> None:
        if job.cancelled():
            return
        started.wait(30)
        status = "FAILED" if job.exception() is not None else "SUCCEEDED"
        message = notice_message(job_id, status, job_tag, bucket, key, int(time.time() * 1000))
        boto3.client("sns").publish(TopicArn=topic, Message=message)

    def on_detect(self, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        """DetectDocumentText: the synchronous call on an image sent inline."""
        params = context[_PARAMS_KEY]
        began = time.perf_counter()
        blocks = self.detector.detect(params["Document"]["Bytes"])
        self.detect_seconds.append(time.perf_counter() - began)
        return _answer(
            {
                "DocumentMetadata": {"Pages": 1},
                "DetectDocumentTextModelVersion": "offline-rapidocr",
                "Blocks": blocks,
            }
        )

    def on_get(self, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        params = context[_PARAMS_KEY]
        job = self._jobs.get(params["JobId"])
        if job is None:
            raise ValueError(f"InvalidJobIdException: {params['JobId']}")
        if not job.done():
            return _answer({"JobStatus": "IN_PROGRESS"})
        error = job.exception()
        if error is not None:
            return _answer(
                {"JobStatus": "FAILED", "StatusMessage": f"{type(error).__name__}: {error}"}
            )
        blocks = job.result()
        start = int(params.get("NextToken") or 0)
        end = start + int(params.get("MaxResults") or 1000)
        response: dict[str, Any] = {
            "JobStatus": "SUCCEEDED",
            "DocumentMetadata": {"Pages": 1},
            "DetectDocumentTextModelVersion": "offline-rapidocr",
            "Blocks": blocks[start:end],
        }
        if end < len(blocks):
            response["NextToken"] = str(end)
        return _answer(response)


def install(
    session: Any, lambdas: LocalLambda, textract: LocalTextract, sns: LocalSns | None = None
) -> Callable[[], None]:
    """Register the hooks on a boto3 session's events; returns the function that removes them."""
    events = session.events
    registrations: list[tuple[str, Callable[..., Any]]] = [
        ("before-parameter-build.lambda.Invoke", _stash_params),
        ("before-call.lambda.Invoke", lambdas.on_invoke),
        ("before-parameter-build.textract.StartDocumentTextDetection", _stash_params),
        ("before-call.textract.StartDocumentTextDetection", textract.on_start),
        ("before-parameter-build.textract.GetDocumentTextDetection", _stash_params),
        ("before-call.textract.GetDocumentTextDetection", textract.on_get),
        ("before-parameter-build.textract.DetectDocumentText", _stash_params),
        ("before-call.textract.DetectDocumentText", textract.on_detect),
    ]
    if sns is not None:
        registrations += [
            ("before-parameter-build.sns.Publish", _stash_params),
            ("before-call.sns.Publish", sns.on_publish),
        ]
    for event_name, handler in registrations:
        events.register(event_name, handler, unique_id=f"meter-reading-local:{event_name}")

    def uninstall() -> None:
        for event_name, _handler in registrations:
            events.unregister(event_name, unique_id=f"meter-reading-local:{event_name}")

    return uninstall
