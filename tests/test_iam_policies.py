"""Every DynamoDB, S3 and SSM call a function makes is one its IAM policy in template.yaml allows.

Locally nothing checks IAM (moto allows everything), so a handler that starts writing to a
table its role may not write to passes every other test and fails in AWS with
AccessDeniedException. Here the pipeline runs the paths households take (a photo confirmed,
a photo superseded by a newer one, a NO, an unreadable photo, HELP/STATUS/HISTORY, the
execution's first step failing, the outbox drained) while a botocore hook notes each call
with the function that made it; each call's IAM action and resource must be allowed by a
statement of that function's policies (inline statements and the managed policies it
references). DynamoDB, S3 and SSM: there the code picks the table, index, key or secret.
"""

from __future__ import annotations

import fnmatch
import os
import threading
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from conftest import AMQP_URL, BillingQueue
from faults import Fault, Faults

from meter_reading import wiring
from meter_reading.local.aws_hooks import current_invocation
from meter_reading.local.runtime import LocalPipeline
from meter_reading.local.sample_photo import render_blank_photo, render_meter_photo
from meter_reading.local.template import load_template

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"
FIRST = "whatsapp:+27821110011"
SECOND = "whatsapp:+27821110012"
THIRD = "whatsapp:+27821110013"
FOURTH = "whatsapp:+27821110014"
SENDER_INDEX = "sender-created-index"
TOKEN = "TwilioAuthTokenParameterName"

#: S3 operations -> the IAM action that authorises them.
_S3_ACTIONS = {
    "PutObject": "s3:PutObject",
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
}


class Call(NamedTuple):
    function: str  # the template's logical id
    action: str  # "dynamodb:PutItem"
    # "ReadingsTable", "ReadingsTable/index/sender-created-index", "PhotoBucket/photos/MM1.jpg"
    resource: str


def _logical_names(template: dict[str, Any]) -> dict[str, str]:
    """Physical table, bucket and parameter names (as the local runtime set them) -> the
    template's logical ids (resources, or parameters naming an SSM parameter)."""
    variables: dict[str, Any] = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            variables |= resource["Properties"].get("Environment", {}).get("Variables", {})
    return {
        os.environ[name]: value["Ref"]
        for name, value in variables.items()
        if isinstance(value, dict) and "Ref" in value and name in os.environ
    }


def _resource_pattern(resource: Any) -> str | None:
    """A policy's Resource as a pattern over Call.resource; None for what is not ours."""
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        logical, attribute = resource["Fn::GetAtt"]
        return str(logical) if attribute == "Arn" else None
    text = resource.get("Fn::Sub") if isinstance(resource, dict) else None
    if isinstance(text, str) and ":ssm:" in text and ":parameter${" in text:
        # arn:...:parameter${TwilioAuthTokenParameterName}: the parameter the template names
        return "ssm-parameter/" + text.split(":parameter${", 1)[1].rstrip("}")
    if isinstance(text, str) and text.startswith("${") and ".Arn}" in text:
        logical, rest = text[2:].split(".Arn}", 1)
        return logical + rest
    return None


def _statements(template: dict[str, Any], function: str) -> list[dict[str, Any]]:
    resources = template["Resources"]
    found: list[dict[str, Any]] = []
    for policy in resources[function]["Properties"].get("Policies", []):
        if isinstance(policy, dict) and "Statement" in policy:
            found += policy["Statement"]
        elif isinstance(policy, dict) and "Ref" in policy:
            found += resources[policy["Ref"]]["Properties"]["PolicyDocument"]["Statement"]
    return found


def allowed(template: dict[str, Any], call: Call) -> bool:
    for statement in _statements(template, call.function):
        if statement.get("Effect") != "Allow":
            continue
        actions = statement["Action"]
        actions = [actions] if isinstance(actions, str) else actions
        if call.action not in actions:
            continue
        resources = statement["Resource"]
        resources = resources if isinstance(resources, list) else [resources]
        for resource in resources:
            pattern = _resource_pattern(resource)
            if pattern is not None and fnmatch.fnmatchcase(call.resource, pattern):
                return True
    return False


class CallRecorder:
    """Notes each DynamoDB, S3 and SSM call made while a function is being served."""

    def __init__(self, pipeline: LocalPipeline, names: dict[str, str]) -> None:
        self.calls: set[Call] = set()
        self._names = names
        self._lock = threading.Lock()
        # Each function in Lambda reads its secrets in its own process; in this one the
        # first to read one would keep it for all. Forgotten after every invocation, each
        # function's own read is seen.
        lambdas = pipeline.lambdas
        assert lambdas is not None
        lambdas.observers.append(self._forget_secrets)
        self._removers = [
            lambda: lambdas.observers.remove(self._forget_secrets),
            pipeline.intercept("before-parameter-build.dynamodb", self._dynamodb),
            pipeline.intercept("before-parameter-build.s3", self._s3),
            pipeline.intercept("before-parameter-build.ssm", self._ssm),
        ]

    def remove(self) -> None:
        for remove in self._removers:
            remove()

    @staticmethod
    def _forget_secrets(*_: Any) -> None:
        wiring.reset()

    def _note(self, action: str, resource: str) -> None:
        invocation = current_invocation()
        if invocation is not None:
            with self._lock:
                self.calls.add(Call(invocation.function, action, resource))

    def _dynamodb(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        action = f"dynamodb:{model.name}"
        tables = list(params.get("RequestItems", {})) + [
            table
            for item in params.get("TransactItems", [])
            for operation in item.values()
            if (table := operation.get("TableName"))
        ]
        if "TableName" in params:
            tables.append(params["TableName"])
        for table in tables or [f"(no table: {sorted(params)})"]:
            resource = self._names.get(table, table)
            if params.get("IndexName"):
                resource += f"/index/{params['IndexName']}"
            self._note(action, resource)

    def _ssm(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        for name in params.get("Names") or [params.get("Name", "(no name)")]:
            self._note(f"ssm:{model.name}", f"ssm-parameter/{self._names.get(name, name)}")

    def _s3(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        action = _S3_ACTIONS.get(model.name, f"s3:{model.name} (add its IAM action here)")
        bucket = self._names.get(params.get("Bucket", ""), params.get("Bucket", "(no bucket)"))
        self._note(action, f"{bucket}/{params.get('Key', '')}")


def _asked(pipeline: LocalPipeline, sender: str, value: str) -> str:
    reading_id, ack = pipeline.send_photo(sender, render_meter_photo(value))
    assert ack.status_code == 200
    assert pipeline.wait_for_question(sender, reading_id), pipeline.describe(reading_id)
    return reading_id


def test_every_call_a_function_makes_is_allowed_by_its_policies(
    billing_queue: BillingQueue,
) -> None:
    template = load_template(TEMPLATE)
    with LocalPipeline(amqp_url=AMQP_URL, billing_exchange=billing_queue.exchange) as pipeline:
        recorder = CallRecorder(pipeline, _logical_names(template))
        faults = Faults(pipeline)
        try:
            confirmed = _asked(pipeline, FIRST, "04521.7")
            pipeline.send_text(FIRST, "YES")
            for command in ("STATUS", "HISTORY", "HELP"):
                assert pipeline.send_text(FIRST, command).status_code == 200

            older = _asked(pipeline, SECOND, "03662.0")
            newer = _asked(pipeline, SECOND, "03663.5")  # the older one is superseded
            pipeline.send_text(SECOND, "NO")

            unreadable, _ = pipeline.send_photo(THIRD, render_blank_photo())

            # DynamoDB refusing the first step every call: the failure step makes the row.
            form = pipeline.photo_webhook(FOURTH, render_meter_photo("01234.5"))
            failing = form["MessageSid"]
            faults.add(
                Fault(failing, "Fetch photo from Twilio", "AccessDeniedException", times=None)
            )
            assert pipeline.deliver_webhook(form).status_code == 200
            ended = {
                reading_id: pipeline.wait_until_finished(reading_id)["status"]
                for reading_id in (confirmed, older, newer, unreadable, failing)
            }
            pipeline.run_outbox_retry()
            failed_row = pipeline.reading(failing)
        finally:
            faults.remove()
            recorder.remove()

    assert ended[confirmed] == ended[older] == ended[newer] == "SUCCEEDED", ended
    assert failed_row is not None and failed_row["status"] == "FAILED", ended
    functions = {call.function for call in recorder.calls}
    # The paths above reach the webhook, the first step and the failure step at least.
    assert {"ReceiveFunction", "FetchPhotoFunction", "RecordFailureFunction"} <= functions
    assert any(call.action == "ssm:GetParameter" for call in recorder.calls)  # the secrets
    denied = sorted(call for call in recorder.calls if not allowed(template, call))
    assert not denied, "calls template.yaml's policies do not allow:\n" + "\n".join(
        f"  {call.function}: {call.action} on {call.resource}" for call in denied
    )


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (Call("FetchPhotoFunction", "dynamodb:GetItem", "InboundMessagesTable"), True),
        (Call("FetchPhotoFunction", "dynamodb:DeleteItem", "InboundMessagesTable"), False),
        (Call("FetchPhotoFunction", "dynamodb:GetItem", "OutboxTable"), False),
        (Call("FetchPhotoFunction", "s3:PutObject", "PhotoBucket/photos/MM1.jpg"), True),
        (Call("FetchPhotoFunction", "s3:PutObject", "PhotoBucket/other/MM1.jpg"), False),
        (
            Call("ReceiveFunction", "dynamodb:Query", "ReadingsTable/index/sender-created-index"),
            True,
        ),
        (Call("ReceiveFunction", "dynamodb:Query", "ReadingsTable"), False),
        (Call("SendMessageFunction", "ssm:GetParameter", f"ssm-parameter/{TOKEN}"), True),
        (Call("SaveReadingFunction", "ssm:GetParameter", f"ssm-parameter/{TOKEN}"), False),
    ],
)
def test_the_policy_check_tells_allowed_from_denied(call: Call, expected: bool) -> None:
    assert allowed(load_template(TEMPLATE), call) is expected
