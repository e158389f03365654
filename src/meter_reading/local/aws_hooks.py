"""Serve Lambda and Textract calls in-process, the way botocore's Stubber does.

A ``before-call`` handler that returns ``(http_response, parsed)`` answers a call
without it ever being sent. Moto's Step Functions interpreter invokes our Lambdas
with ``lambda.Invoke``; the OCR Lambda calls Textract; both land here.
"""

from __future__ import annotations

import io
import json
import threading
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
        with self._finished_changed:
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


class LocalTextract:
    """Textract's asynchronous text detection, answered by an offline OCR engine.

    Detection runs in a worker thread, so the state machine's Wait/Choice loop
    sees IN_PROGRESS and then SUCCEEDED, as it would against Textract.
    """

    def __init__(self, detector: TextDetector) -> None:
        self.detector = detector
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-textract")
        self._jobs: dict[str, Future[list[dict[str, Any]]]] = {}
        self._jobs_by_token: dict[str, str] = {}
        self._lock = threading.Lock()

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
            self._jobs[job_id] = self._pool.submit(self.detector.detect, image["Body"].read())
            if token:
                self._jobs_by_token[token] = job_id
        return _answer({"JobId": job_id})

    def on_detect(self, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        """DetectDocumentText: the synchronous call on an image sent inline."""
        params = context[_PARAMS_KEY]
        blocks = self.detector.detect(params["Document"]["Bytes"])
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


def install(session: Any, lambdas: LocalLambda, textract: LocalTextract) -> Callable[[], None]:
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
    for event_name, handler in registrations:
        events.register(event_name, handler, unique_id=f"meter-reading-local:{event_name}")

    def uninstall() -> None:
        for event_name, _handler in registrations:
            events.unregister(event_name, unique_id=f"meter-reading-local:{event_name}")

    return uninstall
