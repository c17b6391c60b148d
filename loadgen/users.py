"""The User classes for your own Locust file's long-lived connections (README, "Your own
service"): a WebSocket that sends on the user's greenlet and receives on its own, and long-poll
requests, recorded so that the cell gets the figures a built-in long-lived scenario gets
(connections held, KB per connection, connect p99, delivery p50/p99, polls waiting).

    from locust import constant, task
    from loadgen.users import WebSocketUser

    class Chatter(WebSocketUser):
        wait_time = constant(1)
        ws_path = "/chat"                       # connected in on_start

        @task
        def say(self):
            self.send(b"hello", stamp=True)     # carries its send time

        # every stamped message received (this user's or another's broadcast) is a
        # delivery record: its latency is arrival minus the send time it carries

What a record means is said by its name's suffix (request type "WS" for the WebSocket):

    <name>:connect   a handshake (latency: to its 101)           -> connect p99, connections held
    <name>:send      a message sent (latency: writing it)         -> bytes sent
    <name>:deliver   a stamped message received (latency: delivery) -> delivery p50/p99
    <name>:close     the connection ended without this user closing it (a failure)
    <name>:poll      a long-poll answered (latency: the wait)     -> polls waiting at once

The harness reads these from any cell's records, built-in or not (harness/connections.py), so
a file written with the plain Locust API that names its records the same way gets them too.

A message carries its send time in front (`stamped`: b"1700000000.123456 " + payload; `sent_at`
reads it back). A server that wraps messages in its own format: override `on_message` and call
`delivered(sent, size, arrived)` with the send time you find in it.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from locust import HttpUser, User, events

from catalog.fdlimit import loopback_source
from loadgen import held
from loadgen.http_client import Target
from loadgen.recorder import BYTES_SENT, TTFB
from loadgen.wsclient import (
    ConnectionEnded,
    HandshakeError,
    WebSocketClient,
    endpoint_for,
    sent_at,
    stamped,
)

__all__ = [
    "BYTES_SENT",
    "CLOSE",
    "CONNECT",
    "DELIVER",
    "POLL",
    "SEND",
    "TTFB",
    "ConnectionEnded",
    "HandshakeError",
    "LongPollUser",
    "WebSocketUser",
    "sent_at",
    "stamped",
]

WS = "WS"  # the request type of every WebSocket record
CONNECT, SEND, DELIVER, CLOSE, POLL = ":connect", ":send", ":deliver", ":close", ":poll"
_CONNECTIONS = itertools.count()  # this process's connections, for their source addresses

# Messages read before the load stopped are recorded before the records close.
events.test_stop.add_listener(lambda **_: held.drain())


class WebSocketUser(User):
    """A Locust user with one WebSocket: `connect` (on_start does, when `ws_path` is set),
    `send` from its tasks, `on_message` for each message received (on this process's
    receiving greenlet: it must not block), `close` (on_stop does)."""

    abstract = True
    ws_path = ""  # connected in on_start when set (with its query: "/chat?room=1")
    ws_name = ""  # the records' name; default: the path without its query
    max_message_bytes = 1024 * 1024
    connect_timeout_s = 30.0
    ws: WebSocketClient | None = None
    _name = ""  # the open connection's records' name

    def on_start(self) -> None:
        if self.ws_path:
            self.connect(self.ws_path, self.ws_name or None)

    def on_stop(self) -> None:
        self.close()

    def connect(self, path: str, name: str | None = None) -> WebSocketClient:
        """Open the WebSocket at `path` and wait (this greenlet only) for its handshake,
        recorded as `<name>:connect`; raises what failed it (HandshakeError, OSError,
        TimeoutError) after recording it."""
        self.close()
        self._name = name or path.split("?", 1)[0]
        host = self.host or ""
        client = WebSocketClient(
            endpoint_for(host, path),
            on_message=self._message,
            on_close=self._closed,
            max_message_bytes=self.max_message_bytes,
            source=loopback_source(Target.of(host).host, next(_CONNECTIONS)),
        )
        started = time.time()
        try:
            client.connect(timeout=self.connect_timeout_s)
        except Exception as exc:
            elapsed = (time.time() - started) * 1000.0
            self.fire(f"{self._name}{CONNECT}", elapsed, 0, exc, started)
            raise
        self.ws = client
        self.fire(f"{self._name}{CONNECT}", client.opened_ms, 0, None, started)
        return client

    def send(self, data: bytes | str, *, stamp: bool = False, name: str | None = None) -> None:
        """Send one message (text for str, binary for bytes), first stamped with its send time
        when `stamp`; recorded as `<name>:send` with its bytes sent. Never blocks."""
        raw = data.encode("utf-8") if isinstance(data, str) else data
        if stamp:
            raw = stamped(raw)
        payload: bytes | str = raw.decode("utf-8") if isinstance(data, str) else raw
        started = time.time()
        error: BaseException | None = None
        try:
            if self.ws is None:
                raise ConnectionResetError("the WebSocket is not open: connect() first")
            self.ws.send(payload)
        except OSError as exc:
            error = exc
        elapsed = (time.time() - started) * 1000.0
        self.fire(f"{name or self._name}{SEND}", elapsed, 0, error, started, sent=len(raw))

    def close(self) -> None:
        """Close the WebSocket (no record: the user chose to)."""
        client, self.ws = self.ws, None
        if client is not None:
            client.close()

    def on_message(self, message: bytes, arrived: float) -> None:
        """A message received (`arrived`: epoch seconds its last byte was read). By default a
        stamped one is a delivery record; others are not recorded. Runs on the receiving
        greenlet, beside every other connection's messages: keep it short."""
        try:
            sent = sent_at(message)
        except ValueError:
            return
        self.delivered(sent, len(message), arrived)

    def delivered(self, sent: float, size: int, arrived: float, name: str | None = None) -> None:
        """Record a delivery: sent at `sent` (epoch seconds, the sender's clock: this machine's),
        received at `arrived`, `size` bytes."""
        latency = max(arrived - sent, 0.0) * 1000.0
        self.fire(f"{name or self._name}{DELIVER}", latency, size, None, sent)

    def on_close(self, error: BaseException) -> None:
        """The server or the network ended the connection (already recorded as
        `<name>:close`); override to reconnect."""

    def fire(
        self,
        name: str,
        response_time: float,
        length: int,
        exception: BaseException | None,
        start_time: float,
        *,
        sent: int | None = None,
    ) -> None:
        """One record of this user's (a Locust request event, request type "WS")."""
        self.environment.events.request.fire(
            request_type=WS,
            name=name,
            response_time=response_time,
            response_length=length,
            response=None,
            exception=exception,
            start_time=start_time,
            context={BYTES_SENT: sent} if sent is not None else {},
        )

    def _message(self, client: WebSocketClient, opcode: int, payload: bytes, at: float) -> None:
        self.on_message(payload, at)

    def _closed(self, client: WebSocketClient, exc: BaseException, at: float) -> None:
        if client is self.ws:
            self.ws = None
            self.fire(f"{self._name}{CLOSE}", 0.0, 0, exc, at)
            self.on_close(exc)


class LongPollUser(HttpUser):
    """An HttpUser (cookies, XSRF headers, `self.client` as Locust documents it) whose
    `long_poll` requests are recorded as polls: the cell then says how many waited at once."""

    abstract = True

    def long_poll(
        self, path: str, *, name: str | None = None, method: str = "GET", **kwargs: Any
    ) -> Any:
        """One long-poll: `method` `path`, waiting for the server's next event; its record is
        `<name>:poll` (name: the path without its query). Other keywords go to Locust's
        client (timeout, params, headers, catch_response, ...)."""
        label = f"{name or path.split('?', 1)[0]}{POLL}"
        return self.client.request(method, path, name=label, **kwargs)
