"""Upstream faults on every variant, for /upstream?ms=100 and /fanout?n=2&ms=100.

The promise (README: "A dead backend gives 502 at once; a hung one gives 504 after ms + 2 s"):

| fault | what the fake backend does | expected |
|---|---|---|
| refused | nothing listens on the port | 502 in < 1 s |
| hung | accepts, reads the request, never answers | 504 within ms + 2 s (+1 s margin) |
| trickling | status line and headers, then one body byte every 0.5 s, never done | 504 within ms + 2 s (+1.5 s margin) |
| truncated | status line, headers promising 1000 bytes, 5 bytes, then close | 502 quickly |
| garbage | a line that is not HTTP, then close | 502 quickly |

The fake backends are plain sockets on 127.0.0.1 served by threads, closed in finally.
`upstream_faults` is a plain function returning (status, seconds) per variant, path and fault;
tests/reliability/figures.py reuses it.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from catalog.strategies import VARIANT_NAMES, forks
from harness.processes.procs import free_port
from tests.conftest import Server, start_server
from tests.reliability.rawhttp import LOOPBACK, get_status

pytestmark = pytest.mark.reliability

MS = 100
PATHS = (f"/upstream?ms={MS}", f"/fanout?n=2&ms={MS}")
REFUSED, HUNG, TRICKLING, TRUNCATED, GARBAGE = (
    "refused",
    "hung",
    "trickling",
    "truncated",
    "garbage",
)
FAULTS = (REFUSED, HUNG, TRICKLING, TRUNCATED, GARBAGE)
SLACK_S = 2.0  # servers/config.py UPSTREAM_SLACK_S: the deadline is ms + 2 s
EXPECTED: dict[str, tuple[int, float]] = {  # fault -> (status, at most this many seconds)
    REFUSED: (502, 1.0),
    HUNG: (504, MS / 1000 + SLACK_S + 1.0),
    TRICKLING: (504, MS / 1000 + SLACK_S + 1.5),
    TRUNCATED: (502, 1.0),
    GARBAGE: (502, 1.0),
}
GIVE_UP_S = MS / 1000 + SLACK_S + 3.0  # the client's own bound on every request
TRICKLE_EVERY_S = 0.5


class FakeBackend:
    """A misbehaving upstream: one listening socket on 127.0.0.1, a thread per connection.
    `mode` (read when a connection is accepted) picks the misbehaviour."""

    def __init__(self, mode: str = HUNG) -> None:
        self.mode = mode
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((LOOPBACK, 0))
        self._listener.listen(128)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.accepted = 0
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._listener], [], [], 0.1)
            if not ready:
                continue
            try:
                conn, _ = self._listener.accept()
            except OSError:
                continue
            with self._lock:
                self._conns.append(conn)
                self.accepted += 1
                thread = threading.Thread(target=self._serve, args=(conn, self.mode), daemon=True)
                self._threads.append(thread)
            thread.start()

    def _wait(self, conn: socket.socket, seconds: float) -> bool:
        """Sleep up to seconds; False once stopping or the peer has closed."""
        if self._stop.wait(0) or conn.fileno() < 0:
            return False
        try:
            ready, _, _ = select.select([conn], [], [], seconds)
            if ready and not conn.recv(65536, socket.MSG_PEEK):
                return False  # EOF: the server gave up on us
            if ready:
                conn.recv(65536)  # drain what the client sent (the request)
        except (OSError, ValueError):
            return False
        return not self._stop.is_set()

    def _serve(self, conn: socket.socket, mode: str) -> None:
        try:
            self._read_request(conn)
            if mode == HUNG:
                while self._wait(conn, 0.2):
                    pass
            elif mode == TRICKLING:
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 100000\r\n\r\n"
                )
                while self._wait(conn, TRICKLE_EVERY_S):
                    conn.sendall(b" ")
            elif mode == TRUNCATED:
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b'Content-Length: 1000\r\n\r\n{"id"'
                )
            elif mode == GARBAGE:
                conn.sendall(b"this is not HTTP at all\r\n\r\n")
        except (OSError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _read_request(self, conn: socket.socket) -> None:
        buf = b""
        deadline = time.monotonic() + 5.0
        while b"\r\n\r\n" not in buf and time.monotonic() < deadline and not self._stop.is_set():
            ready, _, _ = select.select([conn], [], [], 0.1)
            if ready:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk

    def drop_connections(self) -> None:
        """Cut every connection accepted so far (a server still blocked reading from one is
        released), so the next fault starts from a clean slate."""
        with self._lock:
            conns, threads = list(self._conns), list(self._threads)
            self._conns.clear()
            self._threads.clear()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=5)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._acceptor.join(timeout=5)
        with contextlib.suppress(OSError):
            self._listener.close()
        self.drop_connections()


@dataclass(frozen=True)
class FaultResult:
    variant: str
    path: str
    fault: str
    status: int | None  # None: no answer within GIVE_UP_S
    seconds: float

    def ok(self) -> bool:
        status, limit = EXPECTED[self.fault]
        return self.status == status and self.seconds <= limit


def fault_server(variant: str, backend_url: str) -> Server:
    return start_server(variant, processes=2 if forks(variant) else None, backend_url=backend_url)


def upstream_faults(
    variants: tuple[str, ...] = VARIANT_NAMES, faults: tuple[str, ...] = FAULTS
) -> dict[tuple[str, str, str], FaultResult]:
    """Every variant against every fault on both paths. The variants are asked at the same
    time (each has its own servers), one path and fault at a time, so a wave takes as long
    as its slowest variant; the whole run is about (2 s + margin) per timed-out wave."""
    results: dict[tuple[str, str, str], FaultResult] = {}
    fake = FakeBackend()
    servers: dict[tuple[str, str], Server] = {}
    try:
        refused_url = f"http://{LOOPBACK}:{free_port()}"  # nobody listens there
        # Started from this thread: a child's PR_SET_PDEATHSIG fires when the thread that
        # forked it exits, so a server started from a pool thread would die with it.
        for v in variants:
            if REFUSED in faults:
                servers[(v, REFUSED)] = fault_server(v, refused_url)
            servers[(v, "fake")] = fault_server(v, fake.url)
        with ThreadPoolExecutor(max_workers=len(variants)) as pool:
            for fault in faults:
                fake.mode = fault
                for path in PATHS:

                    def ask(v: str, path: str = path, fault: str = fault) -> FaultResult:
                        server = servers[(v, REFUSED if fault == REFUSED else "fake")]
                        status, seconds = get_status(server.port, path, timeout=GIVE_UP_S)
                        return FaultResult(v, path, fault, status, seconds)

                    for result in pool.map(ask, variants):
                        results[(result.variant, path, fault)] = result
                    # A server that never answered may still be blocked on the fake: release
                    # it, so one fault never spills into the next.
                    fake.drop_connections()
                    time.sleep(0.1)
    finally:
        fake.close()  # first: a server blocked reading from the fake is released
        for server in servers.values():
            server.child.stop()
    return results


# -- the tests ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fault_results() -> dict[tuple[str, str, str], FaultResult]:
    return upstream_faults()


def _cases() -> list[object]:
    return [
        pytest.param(variant, path, fault, id=f"{fault}-{variant}-{path}")
        for fault in FAULTS
        for variant in VARIANT_NAMES
        for path in PATHS
    ]


@pytest.mark.parametrize(("variant", "path", "fault"), _cases())
def test_upstream_fault_answer(
    fault_results: dict[tuple[str, str, str], FaultResult], variant: str, path: str, fault: str
) -> None:
    result = fault_results[(variant, path, fault)]
    status, limit = EXPECTED[fault]
    assert result.status == status, result
    assert result.seconds <= limit, result
