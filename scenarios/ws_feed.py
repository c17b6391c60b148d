"""WebSocket /ws/feed?interval_ms=--interval_ms&bytes=--bytes: each user holds one
subscription and records every message it receives with its delivery latency (received −
the server's send time, both on this machine's clock on loopback) as the record's latency,
and the send time as its start. Received is when the message's bytes came off the socket,
before any bookkeeping (WebSocketUser.subscribe)."""

from __future__ import annotations

from typing import Any

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
        if self.connected() is not None:
            self.subscribe(self.delivered)

    def delivered(self, message: bytes, waited_from: float, received: float) -> None:
        try:
            _, sent = live.parse_feed(message)
        except ValueError as exc:  # UnicodeDecodeError among them
            self.fire(
                self.endpoint, (received - waited_from) * 1000, len(message), exc, waited_from
            )
            return
        wrong = None if len(message) == self.size else ValueError("wrong message size")
        self.fire(self.endpoint, (received - sent) * 1000, len(message), wrong, sent)
