"""WebSocket /ws/feed?interval_ms=--interval_ms&bytes=--bytes: each user holds one
subscription and records every message it receives with its delivery latency (received −
the server's send time, both on this machine's clock on loopback) as the record's latency,
and the send time as its start. Received is when the message's bytes came off the socket,
before any bookkeeping (loadgen/held.py). The subscriptions are held by the hub, not by a
greenlet each (loadgen/held_user.py), so one Locust process holds ten thousand."""

from __future__ import annotations

from typing import Any

from locust import events

from catalog import live
from loadgen.checks import add_option
from loadgen.held_user import WebSocketSubscriber


@events.init_command_line_parser.add_listener
def add_feed_options(parser: Any) -> None:
    add_option(parser, "--interval_ms", type=int, default=live.DEFAULT_INTERVAL_MS)
    add_option(parser, "--bytes", type=int, default=live.DEFAULT_FEED_BYTES)


class WrongSize(ValueError):
    """A feed message of another size than the scenario asked for."""


class FeedUser(WebSocketSubscriber):
    endpoint = "/ws/feed"
    max_message_bytes = live.FEED_BYTES_MAX

    def configure(self) -> None:
        interval_ms = self.option("interval_ms")
        self.path = f"/ws/feed?interval_ms={interval_ms}&bytes={self.option('bytes')}"
        self.size = self.option("bytes")
        # Two intervals without a message, and then some: the server has stopped sending.
        self.silence_s = 2 * interval_ms / 1000 + 10

    def delivered(self, message: bytes, arrived: float) -> None:
        try:
            _, sent = live.parse_feed(message)
        except ValueError as exc:  # UnicodeDecodeError among them
            self.fire(self.endpoint, 0.0, len(message), exc, arrived)
            return
        wrong = None if len(message) == self.size else WrongSize("wrong message size")
        self.fire(self.endpoint, (arrived - sent) * 1000, len(message), wrong, sent)
