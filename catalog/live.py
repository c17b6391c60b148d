"""Long-lived connections without Tornado: the bounds of /ws/echo, /ws/feed and /poll, the
schedule their events follow, and the feed message format (the load side parses it too)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

# /ws/feed?interval_ms=I&bytes=B and /poll?interval_ms=I: one event every I ms per server
# process. 1 ms is the finest a timer on the IOLoop keeps; 60 s is longer than any window.
INTERVAL_MS_MIN = 1
INTERVAL_MS_MAX = 60_000
DEFAULT_INTERVAL_MS = 1000
# A feed message carries its sequence number and send time in a header of at most 32 bytes
# (FEED_HEADER_MAX); B pads it to its size. 64 KiB is the largest message a client may send.
FEED_BYTES_MIN = 32
FEED_BYTES_MAX = 64 * 1024
DEFAULT_FEED_BYTES = 64
# /poll?timeout_ms=T: a waiting request answers 204 after T ms without an event.
TIMEOUT_MS_MIN = 1
TIMEOUT_MS_MAX = 60_000
DEFAULT_TIMEOUT_MS = 30_000
# A message a client sends past this size closes its socket with 1009 (Tornado's own check,
# through the handler's max_message_size).
WS_MESSAGE_MAX_BYTES = 64 * 1024
# Bytes written to one socket and not yet taken by the kernel: a client that stops reading
# makes them grow, so past this much the server closes the socket with 1008 instead of
# holding more memory for it (1 MiB: 16 of the largest feed messages).
SEND_BACKLOG_MAX_BYTES = 1024 * 1024
CLOSE_POLICY = 1008  # the send backlog passed SEND_BACKLOG_MAX_BYTES
CLOSE_TOO_BIG = 1009  # a message above WS_MESSAGE_MAX_BYTES
# Distinct intervals one server process publishes at once: each is a timer on the IOLoop, so
# a client cannot make the server run thousands of them.
TICKERS_MAX = 16

ECHO_PARAMS = ("ms",)
FEED_PARAMS = ("interval_ms", "bytes")
POLL_PARAMS = ("timeout_ms", "interval_ms")


@dataclass(frozen=True)
class Schedule:
    """Event k of an interval falls at k × interval on the monotonic clock, in every process
    and whoever serves it, so a publisher that starts, stops or runs late (a blocked IOLoop)
    never shifts the events: a request waits for the next one, however it waits."""

    interval_ms: int

    def index(self, now: float) -> int:
        """The last event due at or before ``now`` (time.monotonic())."""
        return math.floor(now * 1000 / self.interval_ms)

    def due(self, index: int) -> float:
        return index * self.interval_ms / 1000

    def next_after(self, now: float) -> tuple[int, float]:
        """The next event after ``now``: its index and when it is due."""
        k = self.index(now) + 1
        return k, self.due(k)

    def wait_blocking(self, deadline: float) -> tuple[int, float] | None:
        """Sleep until the next event (index, wall time it came) or until ``deadline`` (a
        time.monotonic() value; None then): how a blocking strategy waits for one."""
        now = time.monotonic()
        k, due = self.next_after(now)
        if due > deadline:
            time.sleep(max(deadline - now, 0.0))
            return None
        time.sleep(max(due - now, 0.0))
        return k, time.time()


FEED_HEADER_MAX = 32


def feed_message(seq: int, sent: float, size: int) -> str:
    """Feed message ``seq``, sent at ``sent`` (epoch seconds): "seq sent " padded with "x" to
    ``size`` characters (ASCII, so as many bytes)."""
    header = f"{seq} {sent:.6f} "
    return header + "x" * (size - len(header))


def parse_feed(message: str | bytes) -> tuple[int, float]:
    """(seq, sent) of a feed message; ValueError for anything else."""
    text = message.decode("ascii") if isinstance(message, bytes) else message
    seq, sent, _ = text.split(" ", 2)
    return int(seq), float(sent)
