"""Real HTTP receivers on loopback for the webhook tests and the benchmark."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """Answers every POST with `status` (or `answer(request) -> (status, body, headers)`) after
    `delay` seconds, and keeps what it received."""

    status: int = 200
    delay: float = 0.0
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    answer: Callable[[Received], tuple[int, bytes, dict[str, str]]] | None = None
    received: list[Received] = field(default_factory=list)
    server: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Received(
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                    at=time.time(),
                )
                if receiver.delay:
                    time.sleep(receiver.delay)
                if receiver.answer is not None:
                    status, body, headers = receiver.answer(request)
                else:
                    status, body, headers = receiver.status, receiver.body, receiver.headers
                if 200 <= status < 300:
                    with receiver.lock:
                        receiver.received.append(request)
                else:
                    with receiver.lock:
                        receiver.refused.append(request)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the sender hung up (a timeout, or it read its 1 KB)
                    self.close_connection = True

            def log_message(self, *args: Any) -> None:
                pass

        self.refused: list[Received] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
