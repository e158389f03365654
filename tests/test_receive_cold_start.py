"""The webhook's cold start runs without the cyclic collector, and only its cold start.

Its module pauses the collector before its imports and its first invocation, freezing what
they made; after either, even a first invocation that raised, the collector runs again. Each
case runs in a fresh interpreter, as a cold start does (the pytest process's collector is
left alone).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "functions" / "receive" / "app.py"

COLD_START = """
import gc, importlib.util, sys

spec = importlib.util.spec_from_file_location("app", sys.argv[1])
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)
assert gc.isenabled(), "the collector is off after the imports"
frozen_by_imports = gc.get_freeze_count()
assert frozen_by_imports > 0

class Context:
    function_name = "ReceiveFunction"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ReceiveFunction"
    aws_request_id = "cold-start-test"

seen = []
parse_event = app.parse_event

def failing_parse(event):
    seen.append(gc.isenabled())
    if len(seen) == 1:
        raise RuntimeError("the first invocation fails")
    return parse_event(event)

app.parse_event = failing_parse
try:
    app.handler({"body": "x"}, Context())
except RuntimeError:
    pass
else:
    raise AssertionError("the first invocation did not raise")
assert gc.isenabled(), "the collector is off after a first invocation that raised"
assert gc.get_freeze_count() >= frozen_by_imports
answer = app.handler("not an API Gateway event", Context())
assert answer["statusCode"] == 400, answer
assert gc.isenabled()
print(seen)
"""


def test_the_collector_is_paused_for_the_imports_and_the_first_invocation_only() -> None:
    done = subprocess.run(
        [sys.executable, "-c", COLD_START, str(APP)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "POWERTOOLS_LOG_LEVEL": "ERROR"},
    )
    assert done.returncode == 0, done.stderr
    # Off during the first invocation, on during the second.
    assert done.stdout.strip().splitlines()[-1] == "[False, True]"
