"""Fault injection into the local pipeline at the botocore level: AWS fails as AWS would.

A hook on `before-call.<service>` answers a call with the error response AWS would send (an
HTTP status and an error code), so botocore raises the very ClientError it raises in AWS,
and our handlers, Lambda's error report and the state machine's Retry and Catch take it from
there. Nothing of ours is mocked: the hook only learns which step made the call from the
Lambda invocation the calling thread serves, and which Task state that is from the ASL.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders

from meter_reading.local.aws_hooks import Invocation, current_invocation
from meter_reading.local.runtime import LocalPipeline

ASL = Path(__file__).resolve().parents[1] / "statemachine" / "meter_reading.asl.json"
# Where a hook must sit to run before any other: botocore calls the handlers of the most
# specific event name first, and the local Textract answers these three operations itself.
HOOKED_EVENTS = (
    "before-call.dynamodb",
    "before-call.s3",
    "before-call.textract.StartDocumentTextDetection",
    "before-call.textract.GetDocumentTextDetection",
    "before-call.textract.DetectDocumentText",
)
# What the local runtime's Lambda hook stashed of an Invoke call (aws_hooks._stash_params).
_INVOKE_PARAMS = "meter_reading_local_params"


@dataclass
class Fault:
    reading_id: str
    state: str
    code: str
    service: str = "dynamodb"  # or textract, s3; "lambda": the Lambda service, not our code
    times: int | None = 1  # calls to fail; None: every call (a permanent fault)
    status: int = 400
    injected: int = 0


@dataclass(frozen=True)
class _TaskState:
    name: str
    function: str  # the template's logical id, as the local Lambda knows it
    static: dict[str, Any]  # the Payload's fixed fields ("status": "CONFIRMED")
    keys: frozenset[str]


def task_states() -> list[_TaskState]:
    """Every Task state of the ASL with the function it invokes and its Payload's shape."""
    found = []
    for name, state in json.loads(ASL.read_text())["States"].items():
        if state["Type"] != "Task":
            continue
        parameters = state["Parameters"]
        function = parameters["FunctionName"].removeprefix("${").removesuffix("Arn}")
        payload = parameters.get("Payload", {})
        static = {key: value for key, value in payload.items() if not key.endswith(".$")}
        keys = frozenset(key.removesuffix(".$") for key in payload)
        found.append(_TaskState(name, function, static, keys))
    return found


def state_of(invocation: Invocation, states: list[_TaskState]) -> str | None:
    """The Task state that made this invocation: its function and Payload match the state's
    (the one with the most fixed fields, when several share a function)."""
    matches = [
        state
        for state in states
        if state.function == invocation.function
        and state.keys == set(invocation.payload)
        and all(invocation.payload.get(key) == value for key, value in state.static.items())
    ]
    if not matches:
        return None
    return max(matches, key=lambda state: len(state.static)).name


def error_response(code: str, status: int) -> tuple[AWSResponse, dict[str, Any]]:
    parsed = {
        "Error": {"Code": code, "Message": f"{code} (injected)"},
        "ResponseMetadata": {
            "RequestId": str(uuid.uuid4()),
            "HTTPStatusCode": status,
            "HTTPHeaders": {},
            "RetryAttempts": 0,
        },
    }
    return AWSResponse("https://fault.invalid", status, HTTPHeaders(), None), parsed


class Faults:
    """The faults planned for a pipeline's steps, and which were injected."""

    def __init__(self, pipeline: LocalPipeline) -> None:
        assert pipeline.lambdas is not None
        self.states = task_states()
        self.planned: list[Fault] = []
        self._jobs: dict[str, str] = {}  # Textract job id -> reading id
        self._lock = threading.Lock()
        pipeline.lambdas.observers.append(self._note_job)
        self._removers = [pipeline.intercept(event, self._hook) for event in HOOKED_EVENTS]
        self._removers.append(pipeline.intercept("before-call.lambda.Invoke", self._lambda_hook))

    def add(self, fault: Fault) -> Fault:
        assert fault.state in {state.name for state in self.states}, fault.state
        with self._lock:
            self.planned.append(fault)
        return fault

    def remove(self) -> None:
        for remove in self._removers:
            remove()

    def _note_job(self, function: str, payload: dict[str, Any], result: Any, error: Any) -> None:
        if function == "StartTextDetectionFunction" and error is None:
            with self._lock:
                self._jobs[result["job_id"]] = payload["reading_id"]

    def _reading_of(self, payload: dict[str, Any]) -> str | None:
        if "reading_id" in payload:
            return str(payload["reading_id"])
        if "job_id" in payload:
            with self._lock:
                return self._jobs.get(payload["job_id"])
        if "key" in payload:  # photos/<reading id>.jpg
            return str(payload["key"]).removeprefix("photos/").rsplit(".", 1)[0]
        return None

    def _hook(self, model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        """A call one of our handlers makes."""
        invocation = current_invocation()
        if invocation is None:
            return None
        return self._inject(invocation, model.service_model.service_name)

    def _lambda_hook(
        self, context: dict[str, Any], **_: Any
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        """The state machine's Invoke itself: the Lambda service throttling or failing."""
        params = context.get(_INVOKE_PARAMS)
        if params is None:
            return None
        raw = params.get("Payload") or b"{}"
        payload = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        function = str(params["FunctionName"]).rsplit(":", 1)[-1]
        return self._inject(Invocation(function, payload), "lambda")

    def _inject(
        self, invocation: Invocation, service: str
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        state = state_of(invocation, self.states)
        reading_id = self._reading_of(invocation.payload)
        with self._lock:
            for fault in self.planned:
                if (fault.reading_id, fault.state, fault.service) != (reading_id, state, service):
                    continue
                if fault.times is not None and fault.injected >= fault.times:
                    continue
                fault.injected += 1
                return error_response(fault.code, fault.status)
        return None
