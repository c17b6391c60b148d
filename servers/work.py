"""The work itself, independent of how a strategy schedules it."""

from __future__ import annotations

import http.client
import json
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from servers.config import UPSTREAM_SLACK_S


def cpu_work(n: int) -> int:
    """n units of pure-Python CPU work; the result is deterministic so it can be checked."""
    x = 1
    for _ in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
    return x


def blocking_sleep(ms: int) -> None:
    time.sleep(ms / 1000.0)


class UpstreamError(Exception):
    """An upstream call that failed; status is what the client should see (502 or 504)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def delay_path(ms: int, call_id: int) -> str:
    return f"/delay?ms={ms}&id={call_id}"


def upstream_timeout_s(ms: int) -> float:
    return ms / 1000.0 + UPSTREAM_SLACK_S


def parse_backend_body(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise UpstreamError(502, "backend returned a body that is not JSON") from exc
    if not isinstance(value, dict) or "id" not in value:
        raise UpstreamError(502, "backend returned an unexpected body")
    return value


class BlockingUpstream:
    """A blocking stdlib HTTP client with one kept-alive connection per thread.

    Tornado's synchronous HTTPClient cannot run inside a running IOLoop, so the blocking
    strategies use http.client directly.
    """

    def __init__(self, backend_url: str | None) -> None:
        self._url = backend_url
        self._local = threading.local()

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            assert self._url is not None
            parts = urlsplit(self._url)
            cls = (
                http.client.HTTPSConnection
                if parts.scheme == "https"
                else http.client.HTTPConnection
            )
            conn = cls(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
            self._local.conn = conn
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None

    def call(self, ms: int, call_id: int) -> dict[str, Any]:
        if self._url is None:
            raise UpstreamError(502, "no backend configured (start the server with --backend-url)")
        timeout = upstream_timeout_s(ms)
        # A kept-alive connection may have been closed by the backend while idle: one
        # retry on a fresh connection, never more.
        for attempt in (0, 1):
            conn = self._connection(timeout)
            try:
                conn.request("GET", delay_path(ms, call_id))
                resp = conn.getresponse()
                body = resp.read()
            except TimeoutError as exc:
                self._drop()
                raise UpstreamError(504, "backend timed out") from exc
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._drop()
                if attempt == 0:
                    continue
                raise UpstreamError(502, "backend closed the connection") from None
            except OSError as exc:
                self._drop()
                raise UpstreamError(502, "backend unreachable") from exc
            if resp.status != 200:
                raise UpstreamError(502, f"backend answered {resp.status}")
            return parse_backend_body(body)
        raise AssertionError("unreachable")  # pragma: no cover

    def fanout(self, n: int, ms: int) -> list[dict[str, Any]]:
        return [self.call(ms, i) for i in range(n)]

    def close(self) -> None:
        self._drop()
