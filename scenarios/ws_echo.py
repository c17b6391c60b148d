"""WebSocket /ws/echo?ms=--ms: each user holds one socket and sends a message of --bytes every
--interval_ms, timing each echo (sent → the same message back)."""

from __future__ import annotations

import time
from typing import Any

import websocket
from locust import events, task

from catalog import live
from loadgen.checks import add_option
from loadgen.websocket_user import WebSocketUser


@events.init_command_line_parser.add_listener
def add_echo_options(parser: Any) -> None:
    add_option(parser, "--interval_ms", type=int, default=live.DEFAULT_INTERVAL_MS)
    add_option(parser, "--bytes", type=int, default=live.DEFAULT_FEED_BYTES)


class EchoUser(WebSocketUser):
    endpoint = "/ws/echo"

    def on_start(self) -> None:
        self.path = f"/ws/echo?ms={self.option('ms')}"
        self.pause_s = self.option("interval_ms") / 1000
        self.payload = "e" * self.option("bytes")
        self.recv_timeout_s = self.option("ms") / 1000 + 30
        self.connected()

    def wait_time(self) -> float:
        return self.pause_s

    @task
    def echo(self) -> None:
        ws = self.connected()
        if ws is None:
            return
        start_time, started = time.time(), time.perf_counter()
        try:
            ws.send(self.payload)
            answer = ws.recv()
        except (OSError, websocket.WebSocketException) as exc:
            self.lost(exc, started, start_time)
            return
        elapsed = (time.perf_counter() - started) * 1000
        wrong = None if answer == self.payload else ValueError("the echo differs")
        self.fire(self.endpoint, elapsed, len(answer), wrong, start_time)
