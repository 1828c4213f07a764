"""One bounded POST to a checked address: 3 s to connect, 10 s in all, no redirects, at most
1 KB of the answer read.

The connection goes to an address `ssrf.resolve` checked (never a second DNS lookup that could
answer differently); TLS still verifies the certificate against the URL's host name.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass

from django.conf import settings

from integrations.ssrf import Target


@dataclass(frozen=True)
class Answer:
    status_code: int | None
    excerpt: str
    error: str
    latency_ms: int


def _connect(target: Target, address: str, timeout: float) -> socket.socket:
    sock = socket.create_connection((address, target.port), timeout=timeout)
    if target.scheme == "https":
        context = ssl.create_default_context()
        return context.wrap_socket(sock, server_hostname=target.host)
    return sock


def post(target: Target, *, body: bytes, headers: dict[str, str]) -> Answer:
    connect_timeout = float(settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS)
    total = float(settings.WEBHOOK_TOTAL_TIMEOUT_SECONDS)
    limit = int(settings.WEBHOOK_RESPONSE_READ_BYTES)
    started = time.monotonic()

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    def remaining() -> float:
        left = total - (time.monotonic() - started)
        if left <= 0:
            raise TimeoutError(f"no answer within {total:g} s")
        return left

    sock: socket.socket | None = None
    try:
        error: Exception | None = None
        for address in target.addresses:
            try:
                sock = _connect(target, address, min(connect_timeout, remaining()))
                break
            except OSError as exc:
                error = exc
        if sock is None:
            raise error or OSError("no address to connect to")
        port = "" if target.port in (80, 443) else f":{target.port}"
        conn = http.client.HTTPConnection(target.host, target.port)
        conn.sock = sock
        sock.settimeout(remaining())
        conn.putrequest("POST", target.path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", f"{target.host}{port}")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("User-Agent", "handoff-desk-webhooks/1.0")
        conn.putheader("Content-Length", str(len(body)))
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders(body)
        sock.settimeout(remaining())
        response = conn.getresponse()
        sock.settimeout(remaining())
        # Redirects are not followed: a 3xx is an answer like any other non-2xx.
        excerpt = response.read(limit).decode("utf-8", errors="replace")
        return Answer(response.status, excerpt, "", elapsed_ms())
    except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
        return Answer(None, "", f"{type(exc).__name__}: {exc}"[:500], elapsed_ms())
    finally:
        if sock is not None:
            sock.close()
