"""A TCP proxy that loses chosen answers: it forwards a request, lets the service answer,
and then closes the client's connection without passing the answer on.

One request per connection (the client under test keeps no connection alive), so each
accepted connection is read as one HTTP/1.1 request and one response with Content-Length.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from types import TracebackType


def _read_message(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


class DroppingProxy:
    """Forwards to 127.0.0.1:`upstream_port`; `drop(request_line)` says which answers to lose."""

    def __init__(self, upstream_port: int, drop: Callable[[str], bool]) -> None:
        self.upstream_port = upstream_port
        self.drop = drop
        self.dropped: list[str] = []
        self.forwarded: list[str] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> DroppingProxy:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._listener.close()
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        with client, socket.create_connection(("127.0.0.1", self.upstream_port)) as upstream:
            request = _read_message(client)
            if not request:
                return
            request_line = request.split(b"\r\n", 1)[0].decode("latin-1")
            upstream.sendall(request)
            response = _read_message(upstream)  # the service has answered: the work is done
            with self._lock:
                lose = self.drop(request_line)
                (self.dropped if lose else self.forwarded).append(request_line)
            if lose:
                client.shutdown(socket.SHUT_RDWR)
                return
            client.sendall(response)
