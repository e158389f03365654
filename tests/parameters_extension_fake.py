"""A stand-in for the Parameters and Secrets Lambda Extension's HTTP API, on a free port."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

SESSION_TOKEN = "the-session-token"


class FakeParametersExtension:
    """Answers GetParameter as the extension does: SSM's response for a parameter it holds,
    SSM's not-found for any other, 401 without the session token. Records each request as
    (path, query, token)."""

    def __init__(self, parameters: dict[str, str]) -> None:
        self.parameters = parameters
        self.requests: list[tuple[str, dict[str, list[str]], str | None]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                token = self.headers.get("X-Aws-Parameters-Secrets-Token")
                fake.requests.append((url.path, query, token))
                name = (query.get("name") or [""])[0]
                if token != SESSION_TOKEN:
                    status, body = 401, b"not authorized"
                elif name not in fake.parameters:
                    status, body = 400, b"ParameterNotFound: parameter not found"
                else:
                    status = 200
                    parameter = {"Name": name, "Type": "SecureString"}
                    body = json.dumps(
                        {"Parameter": parameter | {"Value": fake.parameters[name]}}
                    ).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def names(self) -> list[str]:
        """The parameter names asked for, in order."""
        return [name for _, query, _ in self.requests for name in query.get("name", [])]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
