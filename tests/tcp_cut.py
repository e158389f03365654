"""A TCP proxy to the local broker that a test can cut: a network failure, with no broker stopped.

The broker is shared by everyone's tests on this machine, so tests never stop it; they cut
their own connection instead.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class CuttingProxy:
    """Forwards 127.0.0.1:<port> to 127.0.0.1:<target>; cuts every connection on `cut()`,
    or by itself once a client has sent `cut_after_bytes`."""

    def __init__(self, target_port: int, cut_after_bytes: int | None = None) -> None:
        self.target_port = target_port
        self.cut_after_bytes = cut_after_bytes
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._closed = False

    def url(self, user: str, password: str) -> str:
        return f"amqp://{user}:{password}@127.0.0.1:{self.port}/"

    def __enter__(self) -> CuttingProxy:
        self._spawn(self._accept)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._closed = True
        self._listener.close()
        self.cut()
        for thread in self._threads:
            thread.join(timeout=5)

    def cut(self) -> None:
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):  # already closed by the other side
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._sockets += [client, server]
            self._spawn(self._pump, client, server, self.cut_after_bytes)
            self._spawn(self._pump, server, client, None)

    def _pump(self, source: socket.socket, sink: socket.socket, limit: int | None) -> None:
        sent = 0
        while True:
            try:
                data = source.recv(65536)
                if not data:
                    break
                if limit is not None and sent + len(data) >= limit:
                    sink.sendall(data[: max(0, limit - sent)])
                    break
                sink.sendall(data)
                sent += len(data)
            except OSError:
                break
        self.cut()
