"""WebSocket /ws/feed?interval_ms=--interval_ms&bytes=--bytes: each user holds one
subscription and records every message it receives with its delivery latency (received −
the server's send time, both on this machine's clock on loopback) as the record's latency,
and the send time as its start."""

from __future__ import annotations

import time
from typing import Any

import websocket
from locust import constant, events, task

from catalog import live
from loadgen.checks import add_option
from loadgen.websocket_user import WebSocketUser


@events.init_command_line_parser.add_listener
def add_feed_options(parser: Any) -> None:
    add_option(parser, "--interval_ms", type=int, default=live.DEFAULT_INTERVAL_MS)
    add_option(parser, "--bytes", type=int, default=live.DEFAULT_FEED_BYTES)


class FeedUser(WebSocketUser):
    wait_time = constant(0)
    endpoint = "/ws/feed"

    def on_start(self) -> None:
        interval_ms = self.option("interval_ms")
        self.path = f"/ws/feed?interval_ms={interval_ms}&bytes={self.option('bytes')}"
        self.size = self.option("bytes")
        self.recv_timeout_s = 2 * interval_ms / 1000 + 10
        self.connected()

    @task
    def receive(self) -> None:
        ws = self.connected()
        if ws is None:
            return
        start_time, started = time.time(), time.perf_counter()
        try:
            message = ws.recv()
        except (OSError, websocket.WebSocketException) as exc:
            self.lost(exc, started, start_time)
            return
        received = time.time()
        try:
            _, sent = live.parse_feed(message)
        except ValueError as exc:
            self.fire(self.endpoint, (received - start_time) * 1000, len(message), exc, start_time)
            return
        wrong = None if len(message) == self.size else ValueError("wrong message size")
        self.fire(self.endpoint, (received - sent) * 1000, len(message), wrong, sent)
