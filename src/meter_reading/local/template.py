"""Read the Lambda wiring from template.yaml, so local runs use what AWS would."""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class _CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that keeps CloudFormation short tags (!Ref, !GetAtt, ...) as {'Fn::X': value}."""


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        template: dict[str, Any] = yaml.load(handle, Loader=_CloudFormationLoader)
    return template


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    module_file: Path
    handler_name: str


def functions(template: dict[str, Any], root: Path) -> dict[str, FunctionSpec]:
    specs: dict[str, FunctionSpec] = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        module, _, handler_name = str(properties["Handler"]).rpartition(".")
        code_dir = root / str(properties["CodeUri"])
        specs[logical_id] = FunctionSpec(
            logical_id, code_dir, code_dir / f"{module.replace('.', '/')}.py", handler_name
        )
    return specs


def sns_subscriptions(template: dict[str, Any]) -> dict[str, list[str]]:
    """Topic logical id -> the functions subscribed to it (their `Type: SNS` events)."""
    subscribed: dict[str, list[str]] = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in (resource["Properties"].get("Events") or {}).values():
            if event.get("Type") != "SNS":
                continue
            topic = event["Properties"]["Topic"]
            if not (isinstance(topic, dict) and "Ref" in topic):
                raise ValueError(f"{logical_id}: an SNS event's Topic must be !Ref of a topic")
            subscribed.setdefault(str(topic["Ref"]), []).append(logical_id)
    return subscribed


def state_machine_substitutions(template: dict[str, Any]) -> dict[str, str]:
    """DefinitionSubstitutions key -> logical id of the function it names."""
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::StateMachine":
            result: dict[str, str] = {}
            for key, value in resource["Properties"].get("DefinitionSubstitutions", {}).items():
                if isinstance(value, dict) and "Fn::GetAtt" in value:
                    result[key] = str(value["Fn::GetAtt"][0])
            return result
    raise ValueError("template.yaml has no AWS::Serverless::StateMachine")


def substitute(definition: str, values: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"no substitution for ${{{key}}}")
        return values[key]

    return re.sub(r"\$\{(\w+)\}", replace, definition)


def load_handler(spec: FunctionSpec) -> Any:
    """Import a function's app.py as its own module, as Lambda would from its package."""
    module_name = f"_local_lambda_{spec.code_dir.name}_{spec.module_file.stem}"
    module = sys.modules.get(module_name)
    if module is None:
        import_spec = importlib.util.spec_from_file_location(module_name, spec.module_file)
        if import_spec is None or import_spec.loader is None:
            raise ImportError(f"cannot load {spec.module_file}")
        module = importlib.util.module_from_spec(import_spec)
        sys.modules[module_name] = module
        import_spec.loader.exec_module(module)
    return getattr(module, spec.handler_name)
