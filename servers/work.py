"""The work itself, independent of how a strategy schedules it."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import math
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from servers.config import UPSTREAM_CONNECT_TIMEOUT_S, UPSTREAM_SLACK_S


def cpu_work(n: int) -> int:
    """n units of pure-Python CPU work; the result is deterministic so it can be checked."""
    x = 1
    for _ in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
    return x


def blocking_sleep(ms: int) -> None:
    time.sleep(ms / 1000.0)


STREAM_LETTERS = b"abcdefghijklmnopqrstuvwxyz"
STREAM_CONTENT_TYPE = "application/octet-stream"


def stream_chunk(index: int, size: int) -> bytes:
    """Chunk ``index`` of a /stream answer: ``size`` copies of one letter, the next letter for
    the next chunk, so a client can check both the length and the order of what it got."""
    letter = index % len(STREAM_LETTERS)
    return STREAM_LETTERS[letter : letter + 1] * size


def stream_body(chunks: int, size: int) -> bytes:
    """The whole body of /stream?chunks=K&bytes=B."""
    return b"".join(stream_chunk(i, size) for i in range(chunks))


def upload_block(chunk: int) -> bytes:
    """The block an upload client sends over and over (bytes 0..255 repeating): the body of
    an upload of B bytes in chunks of C is B // C blocks and the first B % C bytes of one."""
    return (bytes(range(256)) * (chunk // 256 + 1))[:chunk]


def upload_pieces(total: int, chunk: int, block: bytes | None = None) -> Iterator[memoryview]:
    """The body of an upload, piece by piece, as views of one block: a client holds one
    chunk however large the body."""
    view = memoryview(block if block is not None else upload_block(chunk))
    sent = 0
    while sent < total:
        piece = view[: min(chunk, total - sent)]
        sent += len(piece)
        yield piece


def upload_digest(total: int, chunk: int) -> str:
    """The SHA-256 (hex) an /upload of that body must answer."""
    h = hashlib.sha256()
    for piece in upload_pieces(total, chunk):
        h.update(piece)
    return h.hexdigest()


@dataclass(frozen=True)
class Job:
    """One /enqueue job: a wait of ``ms`` (simulated I/O) or ``n`` units of cpu_work."""

    id: int
    ms: int | None = None
    n: int | None = None

    @property
    def kind(self) -> str:
        return "sleep" if self.ms is not None else "cpu"

    def describe(self) -> dict[str, Any]:
        amount = {"ms": self.ms} if self.ms is not None else {"n": self.n}
        return {"job": self.id, "work": self.kind, **amount}

    def run_blocking(self) -> None:
        """The work itself, blocking the calling thread until it is done."""
        if self.ms is not None:
            blocking_sleep(self.ms)
        else:
            assert self.n is not None
            cpu_work(self.n)


class Backlog:
    """The background jobs of one server process: accepted and not yet started (queued),
    running (in progress), and the totals of those done, failed and turned away.

    Safe to call from any thread (a thread pool's workers start their jobs); every strategy
    reports the end of a job on its IOLoop thread.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._next_id = 0
        self.queued = 0
        self.in_progress = 0
        self.completed = 0
        self.failed = 0
        self.rejected = 0

    @property
    def pending(self) -> int:
        """Jobs accepted and not yet done: what max_backlog bounds."""
        return self.queued + self.in_progress

    def admit(self, *, ms: int | None = None, n: int | None = None) -> Job | None:
        """A new queued job, or None (counted as rejected) when the backlog is full."""
        with self._lock:
            if self.pending >= self.limit:
                self.rejected += 1
                return None
            self._next_id += 1
            self.queued += 1
            return Job(self._next_id, ms=ms, n=n)

    def withdraw(self, job: Job) -> None:
        """An admitted job that could not be scheduled after all (the pool is shut down)."""
        with self._lock:
            self.queued -= 1
            self.rejected += 1

    def start(self, job: Job) -> None:
        with self._lock:
            self.queued -= 1
            self.in_progress += 1

    def done(self, job: Job, ok: bool = True) -> None:
        with self._lock:
            self.in_progress -= 1
            if ok:
                self.completed += 1
            else:
                self.failed += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {
                "queued": self.queued,
                "in_progress": self.in_progress,
                "completed": self.completed,
                "failed": self.failed,
                "rejected": self.rejected,
                "max_backlog": self.limit,
            }


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
