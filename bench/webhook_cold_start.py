"""The webhook's cold start against its floor, measured in one run.

    python bench/webhook_cold_start.py [--runs 15]

Each sample is a fresh Python process, timed from before it starts until its work is done
and until it exits (a Lambda sandbox never exits in a cold start, but the target was set on
the time to exit; both are printed):

- floor: what the webhook cannot do without: import boto3 and create a Step Functions
  client, import Powertools' Logger, twilio's RequestValidator and MessagingResponse;
- cold start: import functions/receive/app.py and answer one signed photo webhook (a
  fresh MessageSid each time) the way API Gateway hands it over: the auth token from the
  Parameters and Secrets extension, the inbound-message claim, the household's
  conversation, StartExecution, the claim's answer.

The webhook's code runs as Lambda runs it: the shared code layer as `sam build` makes it
(src/Makefile: compiled to bytecode, without local/), and app.py compiled at start (Lambda
can write no bytecode next to it). AWS is moto's server on 127.0.0.1 (started here, in this
process), reached through AWS_ENDPOINT_URL, so the handler makes its real calls over HTTP.
The Parameters and Secrets Lambda Extension, which the webhook reads its token through in
Lambda, is stood in for by a small HTTP server here that answers as the extension does, from
moto's SSM, with a GetParameter on every request: a fresh sandbox's extension has nothing
cached. The two kinds of sample alternate, so a busy machine slows both alike; the medians
and their ratio are printed, with each one's quartiles, and the ratio of each alternating pair
(a floor and the cold start right after it) as a measure of how much the ratio moves.
Tracing is off (no X-Ray daemon outside Lambda), as in local runs: the handler's tracer is
then `observability.NoTracer` and the X-Ray SDK is not imported. In Lambda with tracing on,
Powertools' Tracer imports it (about 270 ms on this machine) and traces the handler.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
TOKEN_PARAMETER = "/meter-reading/twilio-auth-token"
AUTH_TOKEN = "bench-auth-token"
SESSION_TOKEN = "bench-session-token"
HOST = "bench.execute-api.us-east-1.amazonaws.com"
STAGE_PATH = "/Prod/webhook"

FLOOR = """
import boto3
boto3.client("stepfunctions")
from aws_lambda_powertools import Logger
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse
"""

COLD_START = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)

class Context:
    function_name = "ReceiveFunction"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ReceiveFunction"
    aws_request_id = "bench"

answer = app.handler(json.loads(sys.argv[2]), Context())
assert answer["statusCode"] == 200, answer
"""


def _event(message_sid: str) -> str:
    from twilio.request_validator import RequestValidator

    form = {
        "MessageSid": message_sid,
        "AccountSid": "AC" + "0" * 32,
        "From": "whatsapp:+27820000009",
        "To": "whatsapp:+14155238886",
        "Body": "",
        "NumMedia": "1",
        "MediaUrl0": f"https://api.twilio.com/2010-04-01/Accounts/AC/Messages/{message_sid}/Media/ME1",
        "MediaContentType0": "image/jpeg",
    }
    signature = RequestValidator(AUTH_TOKEN).compute_signature(f"https://{HOST}{STAGE_PATH}", form)
    return json.dumps(
        {
            "resource": "/webhook",
            "path": "/webhook",
            "httpMethod": "POST",
            "headers": {
                "Host": HOST,
                "X-Forwarded-Proto": "https",
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature,
            },
            "multiValueHeaders": {},
            "queryStringParameters": None,
            "multiValueQueryStringParameters": None,
            "requestContext": {"path": STAGE_PATH, "stage": "Prod", "httpMethod": "POST"},
            "body": base64.b64encode(urlencode(form).encode()).decode(),
            "isBase64Encoded": True,
        }
    )


class ParametersExtension:
    """The AWS Parameters and Secrets Lambda Extension as a function sees it: GET
    /systemsmanager/parameters/get?name=...&withDecryption=true on localhost with the
    session token in X-Aws-Parameters-Secrets-Token, answered with SSM's GetParameter
    response (here moto's). No cache: each sample is a new sandbox, whose extension has
    fetched nothing yet."""

    def __init__(self, ssm: Any) -> None:
        extension = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                extension.answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.ssm = ssm
        self.served = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, request: BaseHTTPRequestHandler) -> None:
        url = urlsplit(request.path)
        query = parse_qs(url.query)
        if request.headers.get("X-Aws-Parameters-Secrets-Token") != SESSION_TOKEN:
            self._reply(request, 401, b"not authorized")
        elif url.path != "/systemsmanager/parameters/get" or "name" not in query:
            self._reply(request, 400, b"bad request")
        else:
            decrypt = query.get("withDecryption", ["false"])[0] == "true"
            found = self.ssm.get_parameter(Name=query["name"][0], WithDecryption=decrypt)
            body = json.dumps({"Parameter": found["Parameter"], "ResultMetadata": {}}, default=str)
            self._reply(request, 200, body.encode())
            self.served += 1

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        request.send_response(status)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _aws(endpoint: str) -> dict[str, str]:
    """Tables, the auth token and a state machine on moto's server; the handler's env."""
    import boto3

    from meter_reading.local.table_definitions import keyed_table, readings_table

    os.environ.update(
        AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench"
    )
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint)
    dynamodb.create_table(**keyed_table("inbound", "message_sid"))
    dynamodb.create_table(**keyed_table("confirmations", "sender"))
    dynamodb.create_table(**readings_table("readings"))
    boto3.client("ssm", endpoint_url=endpoint).put_parameter(
        Name=TOKEN_PARAMETER, Value=AUTH_TOKEN, Type="SecureString"
    )
    machine = boto3.client("stepfunctions", endpoint_url=endpoint).create_state_machine(
        name="meter-reading",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/bench",
    )["stateMachineArn"]
    return {
        **os.environ,
        "AWS_SESSION_TOKEN": SESSION_TOKEN,  # Lambda's role credentials always carry one
        "AWS_ENDPOINT_URL": endpoint,
        "READINGS_TABLE": "readings",
        "CONFIRMATIONS_TABLE": "confirmations",
        "INBOUND_TABLE": "inbound",
        "STATE_MACHINE_ARN": machine,
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN_PARAMETER": TOKEN_PARAMETER,
        "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "false",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }


# Appended to both scripts: when the work was done (CLOCK_MONOTONIC is one clock for every
# process), so the interpreter's exit, which a Lambda sandbox never pays for in a cold start,
# can be told apart from the work.
_DONE = "\nimport time as _t\nprint('done', _t.monotonic())\n"


def _timed(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(seconds until the script's work was done, seconds until the process exited)."""
    started = time.monotonic()
    finished = subprocess.run(args, env=env, check=True, capture_output=True, text=True)
    exited = time.monotonic()
    done = float(finished.stdout.rsplit("done ", 1)[1])
    return done - started, exited - started


def _layer(into: Path) -> Path:
    """The shared code layer as `sam build` makes it (src/Makefile): compiled, without local/."""
    subprocess.run(
        ["make", "-s", "-C", str(ROOT / "src"), "build-SharedCodeLayer", f"ARTIFACTS_DIR={into}"],
        check=True,
    )
    return into / "python"


def _line(samples: list[float]) -> str:
    q1, _, q3 = (q * 1000 for q in statistics.quantiles(samples, n=4))
    median = statistics.median(samples) * 1000
    return f"median {median:.0f} ms (quartiles {q1:.0f}-{q3:.0f}, min {min(samples) * 1000:.0f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs

    import logging
    import tempfile

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request on stderr
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        env = _aws(endpoint)
        extension = ParametersExtension(boto3.client("ssm", endpoint_url=endpoint))
        env["PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"] = str(extension.port)
        # As in Lambda: the layer's modules compiled at build time, app.py compiled at each
        # cold start (nothing can be written to /var/task or /opt).
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        app = str(ROOT / "functions" / "receive" / "app.py")
        floor: list[tuple[float, float]] = []
        cold: list[tuple[float, float]] = []
        with tempfile.TemporaryDirectory() as build:
            env["PYTHONPATH"] = str(_layer(Path(build)))
            floor_script = [sys.executable, "-c", FLOOR + _DONE]
            cold_script = [sys.executable, "-c", COLD_START + _DONE, app]
            # One of each first, not counted: the OS's file cache is warm for both after it.
            _timed(floor_script, env)
            _timed([*cold_script, _event("MM" + uuid.uuid4().hex)], env)
            for _ in range(runs):
                floor.append(_timed(floor_script, env))
                cold.append(_timed([*cold_script, _event("MM" + uuid.uuid4().hex)], env))
        extension.stop()
        # Every cold start read its token through the extension (none skipped the fetch).
        assert extension.served == runs + 1, (extension.served, runs)
    finally:
        server.stop()
    floor_done, floor_exit = [d for d, _ in floor], [e for _, e in floor]
    cold_done, cold_exit = [d for d, _ in cold], [e for _, e in cold]
    print(f"{runs} runs of each, alternating; to the end of the work / to the process's exit:")
    print("floor (boto3 + Step Functions client, Logger, RequestValidator, MessagingResponse):")
    print(f"  work done {_line(floor_done)}; exited {_line(floor_exit)}")
    print("cold start (import functions/receive/app.py, answer one signed photo webhook):")
    print(f"  work done {_line(cold_done)}; exited {_line(cold_exit)}")
    ratio_done = statistics.median(cold_done) / statistics.median(floor_done)
    ratio_exit = statistics.median(cold_exit) / statistics.median(floor_exit)
    print(
        f"ratio {ratio_exit:.2f}x the floor to exit, {ratio_done:.2f}x to the end of the work "
        "(target <= 1.15x)"
    )
    pairs = [c / f for c, f in zip(cold_done, floor_done, strict=True)]
    q1, _, q3 = statistics.quantiles(pairs, n=4)
    print(
        f"each pair's ratio to the end of the work: median {statistics.median(pairs):.2f}x, "
        f"quartiles {q1:.2f}x-{q3:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
