"""A Locust user holding one WebSocket (websocket-client, a blocking client on the standard
socket module: Locust's gevent monkey-patching makes each user's socket cooperative, one
greenlet per connection).

Records, through Locust's request event (request_type "WS"): the handshake as
``<path>:connect`` (its time to the 101), and every message under the endpoint's path. A
handshake that fails is a failed connect record; the user tries again a second later.

A subscriber (`subscribe`, the feed) reads its socket's bytes itself and stamps them as they
arrive; cutting them into frames and recording each message waits until the event loop is
idle (loadgen/later.py), so one subscriber's bookkeeping never delays another's stamp."""

from __future__ import annotations

import contextlib
import functools
import itertools
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import gevent
import websocket
from locust import User, events

from catalog.fdlimit import loopback_source
from loadgen.frames import BINARY, CLOSE, PING, TEXT, FrameError, FrameReader, close_reason
from loadgen.later import Later

CONNECT_TIMEOUT_S = 30.0
RETRY_AFTER_S = 1.0
WS = "WS"
_CONNECTIONS = itertools.count()  # this process's connections, for their source addresses
# One read of a subscriber's socket: what websocket-client reads at most (a larger request
# grows and shrinks a large buffer every read); a 64 KiB message takes a few.
READ_BYTES = 16_384
# This process's deferred per-message bookkeeping, all of it recorded before the recorder
# closes: this listener is added when the scenario file is imported, before the plugin's.
LATER = Later()
events.test_stop.add_listener(lambda **_: LATER.run_all())
# A delivered message: its payload, when its read began (epoch s), when its bytes arrived.
Deliver = Callable[[bytes, float, float], None]


class _Subscription:
    """One connection's frames and whether its end is already recorded (a close frame, bytes
    that are no frame), so that the read that then fails records nothing more."""

    def __init__(self, ws: websocket.WebSocket) -> None:
        self.ws = ws
        self.reader = FrameReader()
        self.over = False


class WebSocketUser(User):
    abstract = True
    path = ""  # the endpoint with its query, set by on_start
    endpoint = ""  # the record's name: the path without its query
    recv_timeout_s = 30.0
    ws: websocket.WebSocket | None = None

    def url(self) -> str:
        return "ws" + (self.host or "").removeprefix("http") + self.path

    def fire(
        self,
        name: str,
        response_time: float,
        length: int,
        exception: Exception | None = None,
        start_time: float | None = None,
    ) -> None:
        self.environment.events.request.fire(
            request_type=WS,
            name=name,
            response_time=response_time,
            response_length=length,
            exception=exception,
            start_time=start_time,
            context={},
        )

    def connect(self) -> bool:
        """Open the socket (a connect record either way); False when it failed."""
        start_time, started = time.time(), time.perf_counter()
        try:
            self.ws = websocket.create_connection(
                self.url(),
                timeout=CONNECT_TIMEOUT_S,
                socket=self.tcp(),
                enable_multithread=False,
                # websocket-client checks each text frame's UTF-8 in pure Python before recv
                # returns (16 µs for 64 bytes, 16 ms for 64 KiB); the scenario checks what
                # it receives itself, and str.decode checks UTF-8 in C anyway.
                skip_utf8_validation=True,
            )
        except (OSError, websocket.WebSocketException) as exc:
            self.ws = None
            elapsed = (time.perf_counter() - started) * 1000
            self.fire(f"{self.endpoint}:connect", elapsed, 0, exc, start_time)
            gevent.sleep(RETRY_AFTER_S)
            return False
        self.ws.settimeout(self.recv_timeout_s)
        elapsed = (time.perf_counter() - started) * 1000
        self.fire(f"{self.endpoint}:connect", elapsed, 0, None, start_time)
        return True

    def tcp(self) -> socket.socket:
        """The connection's TCP socket, connected to the server's address as given. The client
        would resolve the address with getaddrinfo, which gevent hands to a thread pool: under
        load that costs milliseconds per handshake, even for a numeric address. To a loopback
        server the connections come from several loopback addresses in turn, so the ephemeral
        port range is not the ceiling (catalog/fdlimit.py)."""
        parts = urlsplit(self.host or "")
        host = parts.hostname or "127.0.0.1"
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        try:
            sock.settimeout(CONNECT_TIMEOUT_S)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            source = loopback_source(host, next(_CONNECTIONS))
            if source is not None:
                sock.bind((source, 0))
            sock.connect((host, parts.port or 80))
        except OSError:
            sock.close()
            raise
        return sock

    def connected(self) -> websocket.WebSocket | None:
        """The open socket, opening it first if need be (None when that failed)."""
        if self.ws is None and not self.connect():
            return None
        return self.ws

    def lost(self, exc: Exception, started: float, start_time: float) -> None:
        """A message that never came (closed, reset, timed out): a failed record, and the
        socket dropped so the next task reconnects."""
        self.fire(self.endpoint, (time.perf_counter() - started) * 1000, 0, exc, start_time)
        self.close()

    def subscribe(self, deliver: Deliver) -> None:
        """Read the open socket until it fails or ends, then close it (the next task opens a
        new one). Each read is stamped the moment it returns; cutting its bytes into frames,
        `deliver` for each message they complete (stamped with that read), answering a ping
        and recording a close wait in LATER. One task for the socket's life: no trip through
        Locust's scheduler per message."""
        ws = self.ws
        assert ws is not None and ws.sock is not None
        sub = _Subscription(ws)
        while True:
            waited_from, started = time.time(), time.perf_counter()
            try:
                data = ws.sock.recv(READ_BYTES)
            except OSError as exc:  # reset, or recv_timeout_s without a byte
                error: Exception = exc
            else:
                received = time.time()
                if data:
                    LATER.add(
                        functools.partial(self._take, sub, data, waited_from, received, deliver)
                    )
                    continue
                error = websocket.WebSocketConnectionClosedException(
                    "the server closed the connection"
                )
            elapsed = (time.perf_counter() - started) * 1000
            LATER.add(functools.partial(self._ended, sub, error, elapsed, waited_from))
            self.close()
            return

    def _take(
        self, sub: _Subscription, data: bytes, waited_from: float, received: float, deliver: Deliver
    ) -> None:
        if sub.over:
            return
        error: FrameError | None = None
        try:
            messages = sub.reader.feed(data)
        except FrameError as exc:  # what came before the bad bytes still counts
            messages, error = exc.messages, exc
        for opcode, payload in messages:
            if opcode in (TEXT, BINARY):
                deliver(payload, waited_from, received)
            elif opcode == PING:
                # A pong that cannot leave: the read that follows fails and says so.
                with contextlib.suppress(OSError, websocket.WebSocketException):
                    sub.ws.pong(payload)
            elif opcode == CLOSE:
                closed = websocket.WebSocketConnectionClosedException(close_reason(payload))
                self._end(sub, closed, (received - waited_from) * 1000, waited_from)
                return
        if error is not None:
            self._end(sub, error, (received - waited_from) * 1000, waited_from)

    def _end(
        self, sub: _Subscription, exc: Exception, elapsed_ms: float, start_time: float
    ) -> None:
        """The connection's end as one failed record; its socket shut so the read returns."""
        sub.over = True
        self.fire(self.endpoint, elapsed_ms, 0, exc, start_time)
        if sub.ws.sock is not None:
            with contextlib.suppress(OSError):
                sub.ws.sock.shutdown(socket.SHUT_RDWR)

    def _ended(
        self, sub: _Subscription, exc: Exception, elapsed_ms: float, start_time: float
    ) -> None:
        if not sub.over:
            sub.over = True
            self.fire(self.endpoint, elapsed_ms, 0, exc, start_time)

    def close(self) -> None:
        ws, self.ws = self.ws, None
        if ws is not None:
            try:
                ws.close(timeout=1)
            except Exception:
                ws.shutdown()

    def on_stop(self) -> None:
        self.close()

    def option(self, name: str) -> Any:
        return getattr(self.environment.parsed_options, name)
