"""The local console's data: executions as the Step Functions console shows them, drawn from
the ASL, with each state's input, output, duration and retries; readings, photos, the outbox.

`server.py` serves these as JSON under /api/ and the page (console.html) draws them.
"""

from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any

import boto3

from meter_reading.domain.privacy import mask_phone
from meter_reading.local.runtime import LocalPipeline, StateRun, summarise_history

# Tasks' attempts show in the history as these events; retries are attempts after the first.
_SCHEDULED = frozenset({"TaskScheduled", "LambdaFunctionScheduled"})


@dataclass
class StateVisit:
    """One time the execution was in a state."""

    name: str
    state_type: str
    status: str
    started: datetime
    seconds: float | None
    input: Any = None
    output: Any = None
    attempts: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.state_type,
            "status": self.status,
            "started": self.started,
            "seconds": self.seconds,
            "input": self.input,
            "output": self.output,
            "attempts": self.attempts,
            "retries": max(0, self.attempts - 1),
            "errors": self.errors,
        }


def _json_or_text(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def state_visits(events: list[dict[str, Any]]) -> list[StateVisit]:
    """Every state the execution entered, in order, with what went in and came out."""
    runs: list[StateRun] = summarise_history(events)
    visits: list[StateVisit] = []
    current: StateVisit | None = None
    for event in events:
        kind: str = event["type"]
        if kind.endswith("StateEntered"):
            run = runs[len(visits)]
            details = event.get("stateEnteredEventDetails", {})
            current = StateVisit(
                run.name,
                run.state_type,
                run.status,
                run.started,
                run.seconds,
                input=_json_or_text(details.get("input")),
            )
            visits.append(current)
        elif current is None:
            continue
        elif kind in _SCHEDULED:
            current.attempts += 1
        elif kind.endswith("Failed") and kind != "ExecutionFailed":
            failure: dict[str, Any] = next(
                (v for k, v in event.items() if k.endswith("EventDetails")), {}
            )
            current.errors.append(
                {"error": str(failure.get("error", "")), "cause": str(failure.get("cause", ""))}
            )
        elif kind.endswith("StateExited"):
            current.output = _json_or_text(event.get("stateExitedEventDetails", {}).get("output"))
            current = None
    return visits


def _targets(state: dict[str, Any]) -> list[tuple[str, str]]:
    """(next state, why) for every transition a state can make."""
    found: list[tuple[str, str]] = []
    if "Next" in state:
        found.append((state["Next"], ""))
    for choice in state.get("Choices", []):
        found.append((choice["Next"], "choice"))
    if "Default" in state:
        found.append((state["Default"], "default"))
    for catch in state.get("Catch", []):
        found.append((catch["Next"], "catch " + ", ".join(catch["ErrorEquals"])))
    return found


def state_graph(definition: dict[str, Any], visits: list[StateVisit]) -> dict[str, Any]:
    """The state machine laid out in rows (breadth-first from StartAt), with the path taken.

    Each node has its row and column and the status of its last visit (NOT_VISITED if
    none); each edge says whether the execution took it.
    """
    states: dict[str, Any] = definition["States"]
    rows: dict[str, int] = {definition["StartAt"]: 0}
    queue = deque([definition["StartAt"]])
    while queue:
        name = queue.popleft()
        for target, _why in _targets(states[name]):
            if target not in rows:
                rows[target] = rows[name] + 1
                queue.append(target)
    for name in states:  # unreachable states still get drawn, at the bottom
        rows.setdefault(name, max(rows.values()) + 1)
    columns: dict[int, int] = {}
    last_status = {visit.name: visit.status for visit in visits}
    visit_counts: dict[str, int] = {}
    for visit in visits:
        visit_counts[visit.name] = visit_counts.get(visit.name, 0) + 1
    nodes = []
    for name in states:  # the ASL's own order within a row
        row = rows[name]
        column = columns.get(row, 0)
        columns[row] = column + 1
        nodes.append(
            {
                "name": name,
                "type": states[name]["Type"],
                "row": row,
                "column": column,
                "status": last_status.get(name, "NOT_VISITED"),
                "visits": visit_counts.get(name, 0),
            }
        )
    taken = {(a.name, b.name) for a, b in pairwise(visits)}
    edges = [
        {"from": name, "to": target, "label": why, "taken": (name, target) in taken}
        for name, state in states.items()
        for target, why in _targets(state)
    ]
    return {"nodes": nodes, "edges": edges, "path": [visit.name for visit in visits]}


def household_of(pipeline: LocalPipeline, reading_id: str) -> str | None:
    """The masked number of the household that sent the photo (None for one started by hand)."""
    from meter_reading import wiring

    message = wiring.inbound().get(reading_id)
    return mask_phone(message.sender) if message else None


def _input_of(execution: dict[str, Any]) -> dict[str, Any]:
    loaded = _json_or_text(execution.get("input"))
    return loaded if isinstance(loaded, dict) else {}


def outcome(description: dict[str, Any]) -> str:
    """What became of the reading: the output's status, or the failure's error."""
    if description["status"] == "SUCCEEDED":
        output = _json_or_text(description.get("output"))
        if isinstance(output, dict) and output.get("status"):
            return str(output["status"])
        return "SUCCEEDED"
    if description["status"] == "FAILED":
        return str(description.get("error") or "FAILED")
    return str(description["status"])


def execution_summary(pipeline: LocalPipeline, execution: dict[str, Any]) -> dict[str, Any]:
    description = _describe(execution["executionArn"])
    reading_id = _input_of(description).get("reading_id") or execution["name"]
    stop = description.get("stopDate")
    return {
        "name": execution["name"],
        "reading_id": reading_id,
        "household": household_of(pipeline, reading_id),
        "status": description["status"],
        "outcome": outcome(description),
        "start_date": description["startDate"],
        "stop_date": stop,
        "duration_seconds": (stop - description["startDate"]).total_seconds() if stop else None,
        "execution_arn": execution["executionArn"],
    }


def execution_detail(pipeline: LocalPipeline, name: str) -> dict[str, Any]:
    """One execution as the console draws it: summary, graph, states, reading, error."""
    arn = pipeline.execution_arn(name)
    description = _describe(arn)
    events = pipeline.history(name)
    visits = state_visits(events)
    definition = json.loads(
        (pipeline.root / "statemachine" / "meter_reading.asl.json").read_text(encoding="utf-8")
    )
    summary = execution_summary(pipeline, {"name": name, "executionArn": arn})
    reading = pipeline.reading(summary["reading_id"])
    if reading and reading.get("sender"):
        reading = {**reading, "sender": mask_phone(str(reading["sender"]))}
    return {
        **summary,
        "input": _json_or_text(description.get("input")),
        "output": _json_or_text(description.get("output")),
        "error": description.get("error"),
        "cause": _json_or_text(description.get("cause")),
        "graph": state_graph(definition, visits),
        "states": [visit.view() for visit in visits],
        "reading": reading,
        "photo_url": f"/api/readings/{summary['reading_id']}/photo"
        if reading and reading.get("s3_key")
        else None,
    }


def redrive(pipeline: LocalPipeline, name: str) -> dict[str, Any]:
    """Run a failed reading again from the start, with the same input, as a new execution.

    moto has no RedriveExecution; and ours ends a failure in a Fail state after recording
    it, where AWS's redrive would only fail again. The reading id stays the same, so the
    new execution updates the same reading row.
    """
    arn = pipeline.execution_arn(name)
    description = _describe(arn)
    if description["status"] not in ("FAILED", "TIMED_OUT", "ABORTED"):
        raise NotRedrivable(f"execution {name} is {description['status']}, not failed")
    reading_id = _input_of(description).get("reading_id") or name
    taken = {execution["name"] for execution in pipeline.executions()}
    number = 1
    while f"{reading_id}-redrive-{number}" in taken:
        number += 1
    new_name = f"{reading_id}-redrive-{number}"
    boto3.client("stepfunctions").start_execution(
        stateMachineArn=pipeline.state_machine_arn, name=new_name, input=description["input"]
    )
    return {"name": new_name, "redrives": name}


class NotRedrivable(Exception):
    pass


def _describe(execution_arn: str) -> dict[str, Any]:
    client: Any = boto3.client("stepfunctions")
    described: dict[str, Any] = client.describe_execution(executionArn=execution_arn)
    return described


def all_readings(limit: int = 200) -> list[dict[str, Any]]:
    """Every household's readings, newest first (a scan: fine for a local run's few)."""
    table = boto3.resource("dynamodb").Table(os.environ["READINGS_TABLE"])
    items: list[dict[str, Any]] = table.scan()["Items"]
    items.sort(key=lambda item: str(item.get("created_at", "")), reverse=True)
    return items[:limit]


def outbox_view(pipeline: LocalPipeline) -> list[dict[str, Any]]:
    rows = [row for row in pipeline.outbox() if "status" in row]  # not the drain lock
    rows.sort(key=lambda row: str(row.get("created_at", "")), reverse=True)
    return [
        {
            "message_id": row["message_id"],
            "status": row["status"],
            "created_at": row.get("created_at"),
            "published_at": row.get("published_at"),
            "attempts": row.get("attempts", 0),
            "last_error": row.get("last_error"),
        }
        for row in rows
    ]
