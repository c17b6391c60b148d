"""Slow clients against every variant: headers one byte per second, a body one byte per
second, and an idle keep-alive connection.

Servers run with idle_connection_timeout 30 s (Tornado also uses it as the deadline for a
request's headers) and body_timeout 10 s (servers/config.py). Each slow client must be
dropped within its timeout + 5 s, and a normal client's /health must stay under 0.5 s
meanwhile, on every variant: Tornado reads sockets without blocking, so even `sync` is not
held up by a slow socket (only by a slow handler).

The full measurement takes about 35 s (every variant at once) and is marked slow; the quick
check (three slow-header clients for 2 s do not delay /health) runs by default.
`slow_client_figures` and `brief_slow_headers` are plain functions returning numbers;
tests/reliability/figures.py reuses them.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from catalog.strategies import VARIANT_NAMES, forks
from servers.config import BODY_TIMEOUT_S, IDLE_CONNECTION_TIMEOUT_S
from tests.conftest import Server, start_server
from tests.reliability.rawhttp import LOOPBACK, get_status, request

pytestmark = pytest.mark.reliability

HEALTH_LIMIT_S = 0.5
GIVE_UP_MARGIN_S = 5.0
HEADER_GIVE_UP_S = IDLE_CONNECTION_TIMEOUT_S + GIVE_UP_MARGIN_S
BODY_GIVE_UP_S = BODY_TIMEOUT_S + GIVE_UP_MARGIN_S
IDLE_GIVE_UP_S = IDLE_CONNECTION_TIMEOUT_S + GIVE_UP_MARGIN_S
DRIP_EVERY_S = 1.0
HEALTH_EVERY_S = 0.2
# Headers that never end within any give-up time at one byte per second.
SLOW_HEADERS = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
BODY_LENGTH = 1000
SLOW_BODY_HEAD = (
    b"POST /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    + f"Content-Length: {BODY_LENGTH}\r\n\r\n".encode()
)


def _connect(port: int) -> socket.socket:
    return socket.create_connection((LOOPBACK, port), timeout=2.0)


def drip_until_dropped(
    port: int,
    drip: bytes,
    give_up_s: float,
    *,
    head: bytes = b"",
    every_s: float = DRIP_EVERY_S,
    stop: threading.Event | None = None,
) -> float | None:
    """Send head at once, then drip one byte every `every_s`; return the seconds (counted
    from the end of head) until the server closes or resets the connection, or None if it
    is still open after give_up_s (or once `stop` is set)."""
    sock = _connect(port)
    try:
        if head:
            sock.sendall(head)
        started = time.monotonic()
        sent = 0
        next_send = started
        while True:
            now = time.monotonic()
            if now - started >= give_up_s or (stop is not None and stop.is_set()):
                return None
            if sent < len(drip) and now >= next_send:
                try:
                    sock.sendall(drip[sent : sent + 1])
                except OSError:
                    return time.monotonic() - started
                sent += 1
                next_send += every_s
            wait = max(0.0, min(next_send - time.monotonic(), 0.1))
            readable, _, _ = select.select([sock], [], [], wait)
            if readable:
                try:
                    data = sock.recv(65536)
                except OSError:
                    return time.monotonic() - started
                if not data:
                    return time.monotonic() - started
                # Anything else (an error page before the close) is read and ignored.
    finally:
        with contextlib.suppress(OSError):
            sock.close()


def idle_until_dropped(port: int, give_up_s: float) -> float | None:
    """One keep-alive request, its answer read, then silence: seconds until the server
    closes the idle connection (None if it is still open after give_up_s)."""
    sock = _connect(port)
    try:
        sock.sendall(request("GET", "/health", close=False))
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                return 0.0  # closed at once: not kept alive at all
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                return 0.0
            body += chunk
        started = time.monotonic()
        sock.settimeout(None)
        while time.monotonic() - started < give_up_s:
            readable, _, _ = select.select([sock], [], [], 0.2)
            if readable:
                try:
                    data = sock.recv(65536)
                except OSError:
                    return time.monotonic() - started
                if not data:
                    return time.monotonic() - started
        return None
    finally:
        with contextlib.suppress(OSError):
            sock.close()


@dataclass
class HealthProbe:
    """Polls /health on fresh connections until stopped; keeps the slowest answer."""

    port: int
    worst_s: float = 0.0
    answers: int = 0
    failures: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.is_set():
            status, seconds = get_status(self.port, "/health", timeout=2.0)
            self.answers += 1
            self.failures += status != 200
            self.worst_s = max(self.worst_s, seconds)
            self._stop.wait(HEALTH_EVERY_S)

    def stop(self) -> None:
        self._stop.set()


@contextlib.contextmanager
def probing(port: int) -> Iterator[HealthProbe]:
    probe = HealthProbe(port)
    thread = threading.Thread(target=probe.run, daemon=True)
    thread.start()
    try:
        yield probe
    finally:
        probe.stop()
        thread.join(timeout=5)


@dataclass
class SlowFigures:
    variant: str
    header_drop_s: float | None = None  # None: still open when the client gave up
    body_drop_s: float | None = None
    idle_drop_s: float | None = None
    health_worst_ms: float = 0.0
    health_answers: int = 0
    health_failures: int = 0


def slow_clients_on(server: Server, variant: str) -> SlowFigures:
    """The three slow clients at once against one server, /health probed meanwhile."""
    figures = SlowFigures(variant)
    clients: dict[str, Callable[[], float | None]] = {
        "header": lambda: drip_until_dropped(server.port, SLOW_HEADERS, HEADER_GIVE_UP_S),
        "body": lambda: drip_until_dropped(
            server.port, b"a" * BODY_LENGTH, BODY_GIVE_UP_S, head=SLOW_BODY_HEAD
        ),
        "idle": lambda: idle_until_dropped(server.port, IDLE_GIVE_UP_S),
    }
    with probing(server.port) as probe, ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(fn) for name, fn in clients.items()}
        figures.header_drop_s = futures["header"].result()
        figures.body_drop_s = futures["body"].result()
        figures.idle_drop_s = futures["idle"].result()
    figures.health_worst_ms = probe.worst_s * 1000
    figures.health_answers = probe.answers
    figures.health_failures = probe.failures
    return figures


def slow_client_figures(servers: dict[str, Server]) -> dict[str, SlowFigures]:
    """Every variant at once (each has its own server): about IDLE_CONNECTION_TIMEOUT_S."""
    with ThreadPoolExecutor(max_workers=len(servers)) as pool:
        futures = {v: pool.submit(slow_clients_on, s, v) for v, s in servers.items()}
        return {v: f.result() for v, f in futures.items()}


def brief_slow_headers(server: Server, clients: int = 3, seconds: float = 2.0) -> float:
    """`clients` slow-header clients for `seconds`; the slowest /health meanwhile (ms)."""
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [
            pool.submit(drip_until_dropped, server.port, SLOW_HEADERS, seconds, stop=stop)
            for _ in range(clients)
        ]
        try:
            time.sleep(0.2)  # the slow clients are connected and dripping
            with probing(server.port) as probe:
                time.sleep(seconds)
        finally:
            stop.set()
            for f in futures:
                f.result()
    if probe.failures or not probe.answers:
        return float("inf")
    return probe.worst_s * 1000


def start_servers(variants: tuple[str, ...] = VARIANT_NAMES) -> dict[str, Server]:
    """One server per variant; on any failure every started one stops.

    Started from the calling thread on purpose: each child asks for PR_SET_PDEATHSIG, and
    Linux sends it when the *thread* that forked the child exits, so a server started from a
    pool thread dies with that thread."""
    started: dict[str, Server] = {}
    try:
        for v in variants:
            started[v] = start_server(v, processes=2 if forks(v) else None)
    except BaseException:
        stop_servers(started)
        raise
    return started


def stop_servers(servers: dict[str, Server]) -> None:
    for server in servers.values():
        server.child.stop()


# -- the tests ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Server]]:
    started = start_servers()
    try:
        yield started
    finally:
        stop_servers(started)


@pytest.fixture(scope="module")
def brief_worst_ms(servers: dict[str, Server]) -> dict[str, float]:
    """Every variant at once: three slow-header clients for 2 s each, /health probed."""
    with ThreadPoolExecutor(max_workers=len(servers)) as pool:
        worst = pool.map(brief_slow_headers, servers.values())
        return dict(zip(servers, worst, strict=True))


@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_slow_header_clients_do_not_delay_health(
    brief_worst_ms: dict[str, float], variant: str
) -> None:
    assert brief_worst_ms[variant] < HEALTH_LIMIT_S * 1000


@pytest.fixture(scope="module")
def slow_figures(servers: dict[str, Server]) -> dict[str, SlowFigures]:
    return slow_client_figures(servers)


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_slow_header_client_is_dropped(slow_figures: dict[str, SlowFigures], variant: str) -> None:
    dropped = slow_figures[variant].header_drop_s
    assert dropped is not None, f"still open after {HEADER_GIVE_UP_S:.0f} s"
    assert dropped <= HEADER_GIVE_UP_S


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_slow_body_client_is_dropped(slow_figures: dict[str, SlowFigures], variant: str) -> None:
    dropped = slow_figures[variant].body_drop_s
    assert dropped is not None, f"still open after {BODY_GIVE_UP_S:.0f} s"
    assert dropped <= BODY_GIVE_UP_S


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_idle_keepalive_connection_is_dropped(
    slow_figures: dict[str, SlowFigures], variant: str
) -> None:
    dropped = slow_figures[variant].idle_drop_s
    assert dropped is not None, f"still open after {IDLE_GIVE_UP_S:.0f} s"
    assert dropped <= IDLE_GIVE_UP_S


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_health_stays_fast_while_slow_clients_hang_on(
    slow_figures: dict[str, SlowFigures], variant: str
) -> None:
    figures = slow_figures[variant]
    assert figures.health_failures == 0 and figures.health_answers > 0
    assert figures.health_worst_ms < HEALTH_LIMIT_S * 1000
