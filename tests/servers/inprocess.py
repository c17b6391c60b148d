"""Serving variants inside the test process: one application on the test's own IOLoop
(through Tornado's AsyncHTTPTestCase), and backends on threads of their own."""

from __future__ import annotations

import asyncio
import atexit
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from tornado import web
from tornado.httpclient import HTTPResponse
from tornado.httpserver import HTTPServer
from tornado.testing import AsyncHTTPTestCase, bind_unused_port

from catalog.server_config import ServerConfig
from servers.handlers import release
from servers.registry import make_app

THREAD_START_TIMEOUT_S = 10.0
# The trickling backend sends one body byte this often: far below any per-call deadline, so
# only a deadline on the whole response (not on each recv) can end the wait.
TRICKLE_INTERVAL_S = 0.5
TRICKLE_BODY_BYTES = 1000
# It gives up after this many bytes (6 s), so a client without a whole-response deadline
# fails its test in seconds instead of hanging it.
TRICKLE_MAX_BYTES = 12


class AppUnderTest(AsyncHTTPTestCase):
    """One variant's application on a fresh IOLoop, built through get_app().

    Driven by a pytest fixture rather than by unittest, so the tests can be parametrised
    over the registry: setUp and tearDown own the loop, the listening socket and the client.
    A blocking handler blocks this loop, test client included, as it would block a server.
    """

    __test__ = False  # a helper, not a test case of its own

    def __init__(self, config: ServerConfig) -> None:
        super().__init__()
        self.config = config

    def get_app(self) -> web.Application:
        return make_app(self.config)

    def tearDown(self) -> None:
        # Pool threads must finish while the loop they report to is still open.
        release(self._app, wait=True)
        super().tearDown()
        self.doCleanups()

    def get(self, path: str, timeout: float = 15.0) -> tuple[int, dict[str, str], bytes]:
        response = self.io_loop.run_sync(
            lambda: self.http_client.fetch(
                self.get_url(path), raise_error=False, request_timeout=timeout
            ),
            timeout=timeout + 1,
        )
        return response.code, dict(response.headers), response.body

    def gather(self, path: str, n: int, timeout: float = 30.0) -> tuple[float, list[HTTPResponse]]:
        """n simultaneous GETs, each on its own connection; the wall time and the responses."""

        async def fetch_all() -> tuple[float, list[HTTPResponse]]:
            started = time.monotonic()
            responses = await asyncio.gather(
                *(
                    self.http_client.fetch(
                        self.get_url(path), raise_error=False, request_timeout=timeout
                    )
                    for _ in range(n)
                )
            )
            return time.monotonic() - started, list(responses)

        return self.io_loop.run_sync(fetch_all, timeout=timeout + 1)


class ServerThread:
    """An application served from its own thread and event loop, so that a handler blocking
    the test's loop (sync, multiprocess) can still be answered by it."""

    def __init__(self, make_app: Callable[[], web.Application]) -> None:
        self._make_app = make_app
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="test-server", daemon=True)
        self.base = ""

    def __enter__(self) -> ServerThread:
        self._thread.start()
        if not self._started.wait(THREAD_START_TIMEOUT_S):
            raise RuntimeError("server thread did not start")
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(THREAD_START_TIMEOUT_S)
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._error = exc
            self._started.set()

    async def _serve(self) -> None:
        sock, port = bind_unused_port()
        server = HTTPServer(self._make_app())
        server.add_sockets([sock])
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.base = f"http://127.0.0.1:{port}"
        self._started.set()
        await self._stop.wait()
        server.stop()
        await server.close_all_connections()


class RawBackend:
    """A loopback listener whose every connection is handed to ``respond(conn, stop)`` on a
    thread of its own: for backends that misbehave below HTTP (trickling, cut short)."""

    def __init__(self, respond: Callable[[socket.socket, threading.Event], None]) -> None:
        self._respond = respond
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)  # accept() polls, so that __exit__ can stop it
        self._stop = threading.Event()
        self._accepter = threading.Thread(target=self._accept, name="raw-backend", daemon=True)
        self._threads: list[threading.Thread] = []
        self.base = f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    @property
    def connections(self) -> int:
        return len(self._threads)

    def __enter__(self) -> RawBackend:
        self._accepter.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stop.set()
        self._accepter.join(THREAD_START_TIMEOUT_S)
        for thread in self._threads:
            thread.join(THREAD_START_TIMEOUT_S)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(THREAD_START_TIMEOUT_S)
            try:
                read_request(conn)
                self._respond(conn, self._stop)
            except OSError:
                return  # the server under test gave up and closed: often the point


def read_request(conn: socket.socket) -> None:
    """Read one GET request's head (a GET has no body)."""
    request = b""
    while b"\r\n\r\n" not in request:
        chunk = conn.recv(4096)
        if not chunk:
            raise ConnectionResetError("client closed before a whole request")
        request += chunk


def trickle(conn: socket.socket, stop: threading.Event) -> None:
    """A 200 whose headers come at once and whose body comes one byte every
    TRICKLE_INTERVAL_S: every recv returns quickly, only the whole response is slow."""
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % TRICKLE_BODY_BYTES
    )
    for _ in range(TRICKLE_MAX_BYTES):
        if stop.wait(TRICKLE_INTERVAL_S):
            return
        conn.sendall(b" ")


# Sockets bound, never listening, for the life of the test process: a port released at once
# could be handed to the next bind(0), the server under test's own, which would then answer
# the "unreachable" backend itself.
_HELD: list[socket.socket] = []
atexit.register(lambda: [sock.close() for sock in _HELD])


def unused_port() -> int:
    """A loopback port nothing listens on, and nothing can take: connections are refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    _HELD.append(sock)
    return int(sock.getsockname()[1])
