"""Static checks on template.yaml and the state machine it deploys.

No AWS account needed: cfn-lint checks the SAM template and (through a throw-away
AWS::StepFunctions::StateMachine template) the ASL against CloudFormation's schema,
asl-validator checks the ASL against the States Language schema, and the rest checks
that the template, the ASL and the handlers' source agree with one another.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
ASL = ROOT / "statemachine" / "meter_reading.asl.json"
SETTINGS = ROOT / "src" / "meter_reading" / "settings.py"
PACKAGE_JSON = ROOT / "package.json"
ASL_VALIDATOR = ROOT / "node_modules" / ".bin" / "asl-validator"

STATE_MACHINE = "MeterReadingStateMachine"
SUBSTITUTION = re.compile(r"\$\{(\w+)\}")
# Read by settings.py only in local runs (the Twilio fake); never set in AWS.
LOCAL_ONLY_SETTINGS = frozenset({"TWILIO_API_BASE_URL", "TWILIO_MEDIA_HOSTS"})
# Only the webhook starts executions, and only it may name the state machine: every
# function the state machine invokes would otherwise depend on it in a cycle.
RECEIVE_ONLY_SETTINGS = frozenset({"STATE_MACHINE_ARN", "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"})
# Text detection's wait: set on the functions that start it and end it, and nowhere else.
TEXT_DETECTION_SETTINGS = {
    "StartTextDetectionFunction": frozenset(
        {"TEXT_DETECTION_WAITS_TABLE", "TEXT_DETECTION_TOPIC_ARN", "TEXT_DETECTION_ROLE_ARN"}
    ),
    "TextDetectionDoneFunction": frozenset({"TEXT_DETECTION_WAITS_TABLE"}),
}

_CFN_LINT_MAIN = "import sys; from cfnlint.runner import main; sys.exit(main())"


# --------------------------------------------------------------------------- loading


def _construct_short_tag(loader: Any, tag_suffix: str, node: Any) -> dict[str, Any]:
    """!Ref X -> {'Ref': 'X'}, !GetAtt A.B -> {'Fn::GetAtt': ['A', 'B']}, !Sub -> Fn::Sub."""
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix in ("Ref", "Condition"):
        return {tag_suffix: value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


# Built with type() so it type-checks with and without types-PyYAML installed.
_CloudFormationLoader: Any = type("_CloudFormationLoader", (yaml.SafeLoader,), {})
_CloudFormationLoader.add_multi_constructor("!", _construct_short_tag)


@cache
def _template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(TEMPLATE.read_text(encoding="utf-8"), _CloudFormationLoader)
    return loaded


@cache
def _asl() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(ASL.read_text(encoding="utf-8"))
    return loaded


def _resources() -> dict[str, Any]:
    resources: dict[str, Any] = _template()["Resources"]
    return resources


def _functions() -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in _resources().items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def _global_function_properties() -> dict[str, Any]:
    properties: dict[str, Any] = _template().get("Globals", {}).get("Function", {})
    return properties


def _state_machine_properties() -> dict[str, Any]:
    resource = _resources()[STATE_MACHINE]
    assert resource["Type"] == "AWS::Serverless::StateMachine"
    properties: dict[str, Any] = resource["Properties"]
    return properties


def _asl_substitution_keys() -> set[str]:
    return set(SUBSTITUTION.findall(ASL.read_text(encoding="utf-8")))


def _substituted_function(key: str) -> str:
    """Logical id of the function a DefinitionSubstitution points at (via !GetAtt X.Arn)."""
    value = _state_machine_properties()["DefinitionSubstitutions"][key]
    assert isinstance(value, dict) and set(value) == {"Fn::GetAtt"}, (
        f"substitution {key} should be !GetAtt <Function>.Arn, not {value!r}"
    )
    logical_id, attribute = value["Fn::GetAtt"]
    assert attribute == "Arn", f"substitution {key} should take the function's Arn"
    return str(logical_id)


def _states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, including those inside Parallel branches and Map iterators."""
    for name, state in states.items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _states(branch["States"])
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from _states(state[key]["States"])


def _task_states() -> list[tuple[str, dict[str, Any]]]:
    return [(name, state) for name, state in _states(_asl()["States"]) if state["Type"] == "Task"]


def _top_level_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return {
        node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


# --------------------------------------------------------------------------- cfn-lint


def _cfn_lint(path: Path) -> subprocess.CompletedProcess[str]:
    if importlib.util.find_spec("cfnlint") is None:
        pytest.skip("cfn-lint is not installed in this environment (pip install -e '.[dev]')")
    return subprocess.run(
        [sys.executable, "-c", _CFN_LINT_MAIN, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _step_functions_template(definition: dict[str, Any]) -> dict[str, Any]:
    """A plain CloudFormation template holding the ASL, so cfn-lint applies its ASL schema."""
    substitutions = {
        key: f"arn:aws:lambda:eu-west-1:123456789012:function:{key}"
        for key in sorted(_asl_substitution_keys())
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "StateMachine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "StateMachineType": "STANDARD",
                    "RoleArn": "arn:aws:iam::123456789012:role/meter-reading-state-machine",
                    "Definition": definition,
                    "DefinitionSubstitutions": substitutions,
                },
            }
        },
    }


def test_cfn_lint_template_is_clean() -> None:
    result = _cfn_lint(TEMPLATE)
    assert result.returncode == 0, f"cfn-lint template.yaml:\n{result.stdout}{result.stderr}"


def test_cfn_lint_accepts_the_state_machine_definition(tmp_path: Path) -> None:
    path = tmp_path / "state_machine.json"
    path.write_text(json.dumps(_step_functions_template(_asl()), indent=2), encoding="utf-8")
    result = _cfn_lint(path)
    assert result.returncode == 0, f"cfn-lint on the ASL:\n{result.stdout}{result.stderr}"


def test_cfn_lint_state_machine_check_is_live(tmp_path: Path) -> None:
    """The check above would pass vacuously if cfn-lint stopped validating Definition."""
    broken = json.loads(json.dumps(_asl()))
    broken["States"][broken["StartAt"]]["Nxt"] = "a misspelt Next"
    path = tmp_path / "broken_state_machine.json"
    path.write_text(json.dumps(_step_functions_template(broken), indent=2), encoding="utf-8")
    result = _cfn_lint(path)
    assert result.returncode != 0 and "E3601" in result.stdout, result.stdout + result.stderr


# --------------------------------------------------------------------------- asl-validator


def test_package_json_pins_asl_validator() -> None:
    package = json.loads(PACKAGE_JSON.read_text(encoding="utf-8"))
    version = package["devDependencies"]["asl-validator"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"pin an exact version, not {version!r}"


def test_asl_validator_accepts_the_state_machine() -> None:
    if not ASL_VALIDATOR.exists():
        pytest.skip(f"{ASL_VALIDATOR.relative_to(ROOT)} is missing: run `npm ci` first")
    if shutil.which("node") is None:
        pytest.skip("node is not on PATH: asl-validator needs Node.js")
    result = subprocess.run(
        [str(ASL_VALIDATOR), "--json-path", str(ASL.relative_to(ROOT))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"asl-validator:\n{result.stdout}{result.stderr}"


# --------------------------------------------------------------------------- consistency


def test_state_machine_uses_this_definition_file() -> None:
    uri = _state_machine_properties()["DefinitionUri"]
    assert (ROOT / uri).resolve() == ASL.resolve()


def test_every_asl_substitution_is_defined_and_used() -> None:
    used = _asl_substitution_keys()
    defined = set(_state_machine_properties()["DefinitionSubstitutions"])
    assert used, "the ASL should name its functions through ${...FunctionArn} substitutions"
    assert used - defined == set(), "ASL substitutions missing from DefinitionSubstitutions"
    assert defined - used == set(), "DefinitionSubstitutions the ASL never uses"


@pytest.mark.parametrize("key", sorted(_asl_substitution_keys()))
def test_substitution_names_a_function_with_a_handler(key: str) -> None:
    logical_id = _substituted_function(key)
    assert logical_id in _functions(), f"{key} -> {logical_id}, which is no Serverless::Function"
    assert key == f"{logical_id}Arn", f"substitution {key} points at {logical_id}"


@pytest.mark.parametrize("logical_id", sorted(_functions()))
def test_function_handler_exists_in_source(logical_id: str) -> None:
    properties = _functions()[logical_id]
    code_uri = str(properties["CodeUri"])
    assert re.fullmatch(r"functions/\w+/?", code_uri), f"{logical_id}: CodeUri {code_uri!r}"
    module, _, handler = str(properties["Handler"]).rpartition(".")
    assert module and handler, f"{logical_id}: Handler should be module.function"
    source = ROOT / code_uri / f"{module.replace('.', '/')}.py"
    assert source.is_file(), f"{logical_id}: {source.relative_to(ROOT)} does not exist"
    assert handler in _top_level_functions(source), (
        f"{logical_id}: {source.relative_to(ROOT)} defines no top-level {handler}()"
    )


def test_state_machine_may_invoke_every_function_it_names() -> None:
    invokable = {
        policy["LambdaInvokePolicy"]["FunctionName"]["Ref"]
        for policy in _state_machine_properties()["Policies"]
        if isinstance(policy, dict) and "LambdaInvokePolicy" in policy
    }
    named = {_substituted_function(key) for key in _asl_substitution_keys()}
    assert named - invokable == set(), "functions the state machine calls without permission"
    assert invokable - named == set(), "invoke permissions for functions the ASL never calls"


@pytest.mark.parametrize("name", [name for name, _ in _task_states()])
def test_task_state_has_timeout_retry_and_catch(name: str) -> None:
    state = dict(_task_states())[name]
    assert "TimeoutSeconds" in state or "TimeoutSecondsPath" in state, f"{name}: no timeout"
    assert state.get("Retry"), f"{name}: no Retry"
    assert state.get("Catch"), f"{name}: no Catch"


def test_the_two_callback_tasks_are_the_question_and_text_detection() -> None:
    callbacks = {
        name
        for name, state in _task_states()
        if str(state["Resource"]).endswith(".waitForTaskToken")
    }
    assert callbacks == {"Ask user to confirm", "Start text detection"}


def test_the_question_takes_its_timeout_from_the_input() -> None:
    state = dict(_task_states())["Ask user to confirm"]
    assert state["TimeoutSecondsPath"] == "$.confirmation_timeout_seconds"
    assert "TimeoutSeconds" not in state


def test_confirmation_timeout_fits_inside_the_execution() -> None:
    parameter = _template()["Parameters"]["ConfirmationTimeoutSeconds"]
    execution_timeout = _asl()["TimeoutSeconds"]
    assert parameter["MaxValue"] < execution_timeout, (
        "the longest confirmation wait must end before the execution times out"
    )
    # No default in the ASL: the webhook (and a redrive, with the same input) always passes
    # it, and the first state names it, so an input without it fails before Textract runs.
    first = _asl()["States"][_asl()["StartAt"]]
    assert first["Parameters"]["Payload"]["confirmation_timeout_seconds.$"] == (
        "$.confirmation_timeout_seconds"
    )


def test_text_detection_waits_for_textracts_notification_and_ends_visibly_without_it() -> None:
    states = _asl()["States"]
    start = states["Start text detection"]
    assert start["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert start["Parameters"]["Payload"]["task_token.$"] == "$$.Task.Token"
    assert start["Next"] == "Extract reading"  # no Wait/Check loop
    assert 0 < start["HeartbeatSeconds"] < start["TimeoutSeconds"] <= 300
    assert not [name for name, state in states.items() if state["Type"] == "Wait"]
    timeout, failure = start["Catch"][0], start["Catch"][-1]
    assert timeout["ErrorEquals"] == ["States.Timeout", "States.HeartbeatTimeout"]
    took_too_long = states[timeout["Next"]]
    assert took_too_long["Parameters"]["Error"] == "TextDetectionTimeout"
    assert took_too_long["Next"] == failure["Next"] == "Record failure"
    assert states["Record failure"]["Next"] == "Apologise to user"


def test_textract_announces_a_finished_job_on_an_encrypted_topic_with_a_least_privilege_role() -> (
    None
):
    resources = _resources()
    topic = resources["TextDetectionTopic"]
    assert topic["Type"] == "AWS::SNS::Topic"
    assert topic["Properties"]["KmsMasterKeyId"] == "alias/aws/sns"
    role = resources["TextractPublishRole"]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "textract.amazonaws.com"}
    assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    [policy] = role["Policies"]
    assert policy["PolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Action": "sns:Publish", "Resource": {"Ref": "TextDetectionTopic"}}
    ]
    assert "ManagedPolicyArns" not in role
    start = _functions()["StartTextDetectionFunction"]
    statements = {s["Sid"]: s for s in start["Policies"][0]["Statement"]}
    assert statements["HandTextractItsPublishRole"]["Resource"] == {
        "Fn::GetAtt": ["TextractPublishRole", "Arn"]
    }
    done = _functions()["TextDetectionDoneFunction"]
    assert done["Events"]["TextDetectionDone"] == {
        "Type": "SNS",
        "Properties": {"Topic": {"Ref": "TextDetectionTopic"}},
    }
    resume = {s["Sid"]: s for s in done["Policies"][0]["Statement"]}["ResumeExecution"]
    assert set(resume["Action"]) == {
        "states:SendTaskSuccess",
        "states:SendTaskFailure",
        "states:SendTaskHeartbeat",
    }
    assert resume["Resource"] == {"Ref": STATE_MACHINE}
    waits = resources["TextDetectionWaitsTable"]["Properties"]
    assert waits["KeySchema"] == [{"AttributeName": "reading_id", "KeyType": "HASH"}]
    assert waits["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


@pytest.mark.parametrize(
    "name", [name for name, state in _task_states() if "TimeoutSeconds" in state]
)
def test_task_timeout_covers_the_lambda_timeout(name: str) -> None:
    """A task that times out before its Lambda does would be retried while still running."""
    state = dict(_task_states())[name]
    keys = SUBSTITUTION.findall(json.dumps(state.get("Parameters", {})))
    assert len(keys) == 1, f"{name}: expected one function substitution, found {keys}"
    function = _functions()[_substituted_function(keys[0])]
    lambda_timeout = function.get("Timeout", _global_function_properties().get("Timeout", 3))
    task_timeout = state["TimeoutSeconds"]
    assert lambda_timeout <= task_timeout, (
        f"{name}: the task times out after {task_timeout} s, its Lambda after {lambda_timeout} s"
    )


def _settings_environment_names() -> set[str]:
    """Environment variable names settings.py reads (first string argument of the readers)."""
    readers = {"get", "_required", "_optional"}
    names: set[str] = set()
    for node in ast.walk(ast.parse(SETTINGS.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        first = node.args[0]
        if called in readers and isinstance(first, ast.Constant) and isinstance(first.value, str):
            names.add(first.value)
    return names


def test_functions_get_every_setting_they_read() -> None:
    read = _settings_environment_names()
    assert "READINGS_TABLE" in read, "could not find the settings' environment variables"
    common = set(_global_function_properties()["Environment"]["Variables"])
    own = frozenset().union(*TEXT_DETECTION_SETTINGS.values())
    missing = read - common - LOCAL_ONLY_SETTINGS - RECEIVE_ONLY_SETTINGS - own
    assert missing == set(), "settings read from the environment but never set"
    unknown = common - read - {"POWERTOOLS_LOG_LEVEL"}
    assert unknown == set(), "environment variables set but never read by settings.py"
    receive = _functions()["ReceiveFunction"]["Environment"]["Variables"]
    assert receive["STATE_MACHINE_ARN"] == {"Ref": STATE_MACHINE}
    assert receive["PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"] == "2773"
    for function, names in TEXT_DETECTION_SETTINGS.items():
        assert set(_functions()[function]["Environment"]["Variables"]) == names, function


def test_the_webhook_reads_its_token_through_the_parameters_extension_it_has() -> None:
    """The port setting tells wiring.secret the extension is there: only with its layer, and
    with the role's read access to the token that the extension uses."""
    parameter = _template()["Parameters"]["ParametersSecretsExtensionLayer"]
    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
    assert parameter["Default"] == (
        "/aws/service/aws-parameters-and-secrets-lambda-extension/arm64/latest"
    )
    assert _global_function_properties()["Architectures"] == ["arm64"]
    for logical_id, function in _functions().items():
        has_port = "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT" in function.get("Environment", {}).get(
            "Variables", {}
        )
        has_layer = {"Ref": "ParametersSecretsExtensionLayer"} in function.get("Layers", [])
        assert has_port == has_layer, logical_id
    receive = _functions()["ReceiveFunction"]
    assert {"Ref": "ParametersSecretsExtensionLayer"} in receive["Layers"]
    assert {"Ref": "TwilioAuthTokenReadPolicy"} in receive["Policies"]


# --------------------------------------------------------------------------- ops


def _of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in _resources().items()
        if resource["Type"] == kind
    }


def _alarm_metrics(properties: dict[str, Any]) -> list[dict[str, Any]]:
    """The metrics an alarm watches: its own, or those of its metric math."""
    if "MetricName" in properties:
        return [properties]
    queries = properties["Metrics"]
    return [query["MetricStat"]["Metric"] for query in queries if "MetricStat" in query]


def _dimensions(metric: dict[str, Any]) -> dict[str, Any]:
    return {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}


def test_every_alarm_notifies_the_alarm_topic() -> None:
    alarms = _of_type("AWS::CloudWatch::Alarm")
    assert len(alarms) >= len(_functions()) + 5
    for logical_id, alarm in alarms.items():
        assert alarm["Properties"].get("AlarmActions") == [{"Ref": "AlarmTopic"}], logical_id
    assert _resources()["AlarmTopic"]["Type"] == "AWS::SNS::Topic"
    subscription = _resources()["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert _template()["Parameters"]["AlarmEmail"]["Default"] == ""


def test_alarms_cover_outbox_executions_webhook_text_detection_and_every_function() -> None:
    watched = [
        (metric["Namespace"], metric["MetricName"], _dimensions(metric))
        for alarm in _of_type("AWS::CloudWatch::Alarm").values()
        for metric in _alarm_metrics(alarm["Properties"])
    ]
    names = {(namespace, name) for namespace, name, _ in watched}
    for expected in [
        ("MeterReading", "BillingMessagesDead"),
        ("MeterReading", "OutboxOldestPendingSeconds"),
        ("MeterReading", "TextDetectionFailures"),
        ("AWS/States", "ExecutionsFailed"),
        ("AWS/ApiGateway", "5XXError"),
    ]:
        assert expected in names, expected
    pending = next(
        alarm["Properties"]
        for alarm in _of_type("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "OutboxOldestPendingSeconds"
    )
    assert pending["Threshold"] == 600 and pending["Statistic"] == "Maximum"
    for logical_id in _functions():
        kinds = {
            name
            for namespace, name, dims in watched
            if namespace == "AWS/Lambda" and dims.get("FunctionName") == {"Ref": logical_id}
        }
        assert "Throttles" in kinds, f"{logical_id}: no throttles alarm"
        if logical_id != "AskConfirmationFunction":  # raises ReadingSuperseded by design
            assert "Errors" in kinds, f"{logical_id}: no errors alarm"


def test_our_metrics_in_alarms_and_dashboard_are_the_ones_the_handlers_emit() -> None:
    from meter_reading.observability import NAMESPACE, SERVICE_OF, Metric

    for alarm in _of_type("AWS::CloudWatch::Alarm").values():
        for metric in _alarm_metrics(alarm["Properties"]):
            if metric["Namespace"] == NAMESPACE:
                emitted = Metric(metric["MetricName"])
                assert _dimensions(metric) == {"service": SERVICE_OF[emitted].value}
    body = json.loads(_dashboard_body())
    rows = [
        row
        for widget in body["widgets"]
        for row in widget["properties"].get("metrics", [])
        if row and row[0] == NAMESPACE
    ]
    assert len(rows) >= 15
    for row in rows:
        emitted = Metric(row[1])
        assert row[2:4] == ["service", SERVICE_OF[emitted].value], row
    shown = {row[1] for row in rows}
    assert shown == {metric.value for metric in Metric}, "a metric missing from the dashboard"


def _dashboard_body() -> str:
    """The dashboard's JSON with ${...} filled in as CloudFormation would."""
    [dashboard] = _of_type("AWS::CloudWatch::Dashboard").values()
    text = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    return re.sub(r"\$\{[\w:]+\}", "x", text)


def test_every_log_group_expires_after_the_retention_parameter() -> None:
    groups = _of_type("AWS::Logs::LogGroup")
    assert set(groups) >= {"FunctionLogGroup", "ApiAccessLogGroup", "StateMachineLogGroup"}
    for logical_id, group in groups.items():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, logical_id
    # Every function logs to a group of ours, never to Lambda's default (which never expires).
    logging = _global_function_properties()["LoggingConfig"]
    assert logging["LogGroup"] == {"Ref": "FunctionLogGroup"}
    for logical_id, properties in _functions().items():
        assert "LoggingConfig" not in properties, f"{logical_id} overrides the log group"


def test_api_access_logs_carry_no_request_content() -> None:
    api = _resources()["WebhookApi"]["Properties"]
    setting = api["AccessLogSetting"]
    assert setting["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    fields = json.loads(setting["Format"])
    assert "status" in fields and "requestId" in fields
    variables = " ".join(fields.values())
    # The form (with the household's number) is the body; none of these may be logged.
    for leaking in ("$context.requestOverride", "$input", "querystring", "$context.authorizer"):
        assert leaking not in variables
    assert _resources()["WebhookApi"]["DependsOn"] == "ApiGatewayAccount"
