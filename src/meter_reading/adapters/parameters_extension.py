"""SecureString parameters through the AWS Parameters and Secrets Lambda Extension.

The extension is a layer that runs beside the function and answers on localhost with
Parameter Store's GetParameter response, which it fetches with the function's role and
caches (SSM_PARAMETER_STORE_TTL, 300 s by default). Reading a parameter this way needs no
SSM client: loading SSM's service model was the largest single part of the webhook's cold
start. Only the standard library is used here, for the same reason.
"""

from __future__ import annotations

import http.client
import json
import os
import time
from urllib.parse import quote

#: The header the extension checks every request for: the function's own session token, so
#: only code running in this sandbox with its credentials can read through it.
TOKEN_HEADER = "X-Aws-Parameters-Secrets-Token"
DEFAULT_PORT = 2773
#: The extension may still be starting on a container's first invocation.
_CONNECT_ATTEMPTS = 3
_CONNECT_BACKOFF_SECONDS = 0.05


class ParameterUnavailable(Exception):
    """The extension did not give the parameter (not found, no access, not running)."""


def get_parameter(name: str, port: int = DEFAULT_PORT, timeout_seconds: float = 5.0) -> str:
    """The decrypted value of the SecureString parameter `name`."""
    path = f"/systemsmanager/parameters/get?name={quote(name, safe='')}&withDecryption=true"
    headers = {TOKEN_HEADER: os.environ.get("AWS_SESSION_TOKEN", "")}
    for attempt in range(_CONNECT_ATTEMPTS):
        connection = http.client.HTTPConnection("localhost", port, timeout=timeout_seconds)
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            status, body = response.status, response.read()
            break
        except ConnectionRefusedError as refused:
            if attempt + 1 == _CONNECT_ATTEMPTS:
                raise ParameterUnavailable(
                    f"the parameters extension is not listening on port {port}"
                ) from refused
            time.sleep(_CONNECT_BACKOFF_SECONDS * 2**attempt)
        finally:
            connection.close()
    if status != 200:
        # The extension's error text names the parameter and SSM's error, never a value.
        reason = body.decode("utf-8", "replace")[:300].strip()
        raise ParameterUnavailable(f"parameter {name}: the extension answered {status}: {reason}")
    return str(json.loads(body)["Parameter"]["Value"])
