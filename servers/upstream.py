"""Calls to the upstream backend (/upstream, /fanout): what a failed call answers
(UpstreamError, a 502 or 504), the path and deadline of one call, and the blocking client the
blocking strategies use (a kept-alive http.client connection per thread, each read bounded by
the call's deadline). The awaiting strategies' AsyncHTTPClient side is in servers/handlers.py."""

from __future__ import annotations

import http.client
import io
import json
import math
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from servers.config import UPSTREAM_CONNECT_TIMEOUT_S, UPSTREAM_SLACK_S


class UpstreamError(Exception):
    """An upstream call that failed; status is what the client should see (502 or 504)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def __reduce__(self) -> tuple[type[UpstreamError], tuple[int, str]]:
        # Raised in a process pool's worker, it is pickled back to the server whole.
        return UpstreamError, (self.status, self.message)


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


def time_left(deadline: float) -> float:
    """Seconds until a time.monotonic() deadline; TimeoutError once it has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("upstream deadline passed")
    return left


class _DeadlineReader(io.RawIOBase):
    """The raw stream an HTTPResponse reads from, with every recv bounded by the time left."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline
        # The socket's own raw file keeps the descriptor open while the body is read, even
        # after http.client closes a connection the backend will not keep alive.
        self._raw = sock.makefile("rb", buffering=0)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        self._sock.settimeout(time_left(self._deadline))
        return self._raw.readinto(buffer)

    def close(self) -> None:
        self._raw.close()
        super().close()


class _DeadlineSocket:
    """What HTTPResponse is given as its socket: it only ever calls makefile("rb")."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))


class _DeadlineHTTPConnection(http.client.HTTPConnection):
    """One deadline for a whole exchange: connect, send, status line, headers and body.

    A socket timeout alone bounds each recv, not the response, so a backend that sends a
    byte now and then could hold a blocking call (and a sync server) for as long as it liked.
    """

    deadline: float = math.inf  # a time.monotonic() value, set before each request

    def connect(self) -> None:
        self.timeout = min(time_left(self.deadline), UPSTREAM_CONNECT_TIMEOUT_S)
        super().connect()

    def send(self, data: Any) -> None:
        if self.sock is None:
            self.connect()
        self.sock.settimeout(time_left(self.deadline))
        super().send(data)

    # http.client builds each response with self.response_class(sock, ...): a method here
    # hands the response a reader that re-arms the socket timeout with the time left.
    # (typeshed declares the attribute as the class; a callable that builds one is what
    # http.client needs, and HTTPResponse only calls makefile on the socket it is given.)
    def response_class(  # type: ignore[override]
        self, sock: Any, *args: Any, **kwargs: Any
    ) -> http.client.HTTPResponse:
        reader: Any = _DeadlineSocket(sock, self.deadline)
        return http.client.HTTPResponse(reader, *args, **kwargs)


class _DeadlineHTTPSConnection(_DeadlineHTTPConnection, http.client.HTTPSConnection):
    """The same deadline; HTTPSConnection.connect adds TLS inside the connect above."""


class BlockingUpstream:
    """A blocking stdlib HTTP client with one kept-alive connection per thread, and one
    deadline (ms + UPSTREAM_SLACK_S) for each call, whatever the backend does.

    Tornado's synchronous HTTPClient cannot run inside a running IOLoop, so the blocking
    strategies use http.client directly.
    """

    def __init__(self, backend_url: str | None) -> None:
        self._url = backend_url
        self._local = threading.local()
        # Every thread's connection, so close() can reach those of a thread pool's workers.
        self._lock = threading.Lock()
        self._open: set[_DeadlineHTTPConnection] = set()

    def _connection(self) -> _DeadlineHTTPConnection:
        conn: _DeadlineHTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            assert self._url is not None
            parts = urlsplit(self._url)
            host = parts.hostname or "127.0.0.1"
            if parts.scheme == "https":
                conn = _DeadlineHTTPSConnection(host, parts.port)
            else:
                conn = _DeadlineHTTPConnection(host, parts.port)
            self._local.conn = conn
            with self._lock:
                self._open.add(conn)
        return conn

    def _drop(self) -> None:
        """Close this thread's connection: after a failure it may hold a stale response."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock:
                self._open.discard(conn)
            conn.close()

    def call(self, ms: int, call_id: int) -> dict[str, Any]:
        if self._url is None:
            raise UpstreamError(502, "no backend configured (start the server with --backend-url)")
        deadline = time.monotonic() + upstream_timeout_s(ms)
        # A kept-alive connection may have been closed by the backend while idle: one
        # retry on a fresh connection, never more, and within the same deadline.
        for attempt in (0, 1):
            conn = self._connection()
            conn.deadline = deadline
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
            except http.client.HTTPException as exc:
                # Not HTTP, or cut short: a bad status line, a body shorter than announced.
                self._drop()
                raise UpstreamError(502, "backend sent an invalid response") from exc
            if resp.status != 200:
                raise UpstreamError(502, f"backend answered {resp.status}")
            return parse_backend_body(body)
        raise AssertionError("unreachable")  # pragma: no cover

    def fanout(self, n: int, ms: int) -> list[dict[str, Any]]:
        return [self.call(ms, i) for i in range(n)]

    def close(self) -> None:
        """Close every thread's connection; the client is not used afterwards."""
        with self._lock:
            conns, self._open = self._open, set()
        for conn in conns:
            conn.close()
        self._local = threading.local()
