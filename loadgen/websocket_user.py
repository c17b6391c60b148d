"""A Locust user holding one WebSocket (websocket-client, a blocking client on the standard
socket module: Locust's gevent monkey-patching makes each user's socket cooperative, one
greenlet per connection).

Records, through Locust's request event (request_type "WS"): the handshake as
``<path>:connect`` (its time to the 101), and every message under the endpoint's path. A
handshake that fails is a failed connect record; the user tries again a second later.

Kept for users' own Locust files (websocket-client is what they know). The built-in WebSocket
scenarios use the project's client instead (loadgen/wsclient.py): it holds a connection
without a greenlet, and reads a message as a header and a slice."""

from __future__ import annotations

import itertools
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import gevent
import websocket
from locust import User

from catalog.fdlimit import loopback_source

CONNECT_TIMEOUT_S = 30.0
RETRY_AFTER_S = 1.0
WS = "WS"
_CONNECTIONS = itertools.count()  # this process's connections, for their source addresses


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
