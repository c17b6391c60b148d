"""WebSocket /ws/echo?ms=--ms: each user holds one socket and sends a message of --bytes every
--interval_ms, timing each echo (sent → the same message back), on the project's WebSocket
client (loadgen/wsclient.py): the handshake is a record `/ws/echo:connect`, each echo a record
`/ws/echo`; a connection that fails is one failed record and is opened again a second later."""

from __future__ import annotations

import time
from typing import Any

import gevent
from locust import User, events, task

from catalog import live
from catalog.fdlimit import loopback_source
from loadgen.checks import add_option
from loadgen.http_client import Target
from loadgen.wsclient import WebSocketClient, endpoint_for

WS = "WS"
RETRY_AFTER_S = 1.0


@events.init_command_line_parser.add_listener
def add_echo_options(parser: Any) -> None:
    add_option(parser, "--interval_ms", type=int, default=live.DEFAULT_INTERVAL_MS)
    add_option(parser, "--bytes", type=int, default=live.DEFAULT_FEED_BYTES)


class EchoMismatch(ValueError):
    """The echo differs from the message sent."""


class EchoUser(User):
    endpoint = "/ws/echo"
    _count = 0

    def on_start(self) -> None:
        opts = self.environment.parsed_options
        self.pause_s = opts.interval_ms / 1000
        self.payload = b"e" * opts.bytes
        self.timeout_s = opts.ms / 1000 + 30
        EchoUser._count += 1
        self.ws = WebSocketClient(
            endpoint_for(self.host or "", f"/ws/echo?ms={opts.ms}"),
            max_message_bytes=live.WS_MESSAGE_MAX_BYTES,
            source=loopback_source(Target.of(self.host or "").host, EchoUser._count),
        )
        self.open = False

    def wait_time(self) -> float:
        return self.pause_s

    def fire(self, name: str, ms: float, length: int, exc: BaseException | None, at: float) -> None:
        self.environment.events.request.fire(
            request_type=WS,
            name=name,
            response_time=ms,
            response_length=length,
            exception=exc,
            start_time=at,
            context={},
        )

    def connect(self) -> bool:
        try:
            ms = self.ws.connect(timeout=self.timeout_s)
        except Exception as exc:  # refused, reset, a bad handshake, no answer in time
            self.fire(f"{self.endpoint}:connect", self.ws.opened_ms, 0, exc, self.ws.started_at)
            gevent.sleep(RETRY_AFTER_S)
            return False
        self.fire(f"{self.endpoint}:connect", ms, 0, None, self.ws.started_at)
        self.open = True
        return True

    @task
    def echo(self) -> None:
        if not self.open and not self.connect():
            return
        start_time, started = time.time(), time.perf_counter()
        try:
            self.ws.send(self.payload)
            answer = self.ws.receive(timeout=self.timeout_s)
        except (OSError, TimeoutError) as exc:
            self.fire(self.endpoint, (time.perf_counter() - started) * 1000, 0, exc, start_time)
            self.ws.close()
            self.open = False
            return
        elapsed = (time.perf_counter() - started) * 1000
        wrong = None if answer == self.payload else EchoMismatch("the echo differs")
        self.fire(self.endpoint, elapsed, len(answer), wrong, start_time)

    def on_stop(self) -> None:
        self.ws.close()
