"""GET /poll?timeout_ms=--timeout_ms&interval_ms=--interval_ms: each user long-polls again as
soon as its answer comes; a record's latency is the wait to the answer. A 200 must carry the
event; a 204 (no event before the timeout) is an answer too. The polls are held by the hub,
not by a greenlet each (loadgen/held_user.py)."""

from __future__ import annotations

import json
from typing import Any

from locust import events

from catalog import live
from loadgen.checks import add_option
from loadgen.held_user import LongPollUser


@events.init_command_line_parser.add_listener
def add_poll_options(parser: Any) -> None:
    add_option(parser, "--timeout_ms", type=int, default=live.DEFAULT_TIMEOUT_MS)
    add_option(parser, "--interval_ms", type=int, default=live.DEFAULT_INTERVAL_MS)


class PollAnswerError(ValueError):
    """A poll's answer that is neither a 204 nor a 200 carrying an event."""


class PollUser(LongPollUser):
    endpoint = "/poll"
    # Longer than the longest poll the server holds (timeout_ms is at most 60 s).
    timeout_s = live.TIMEOUT_MS_MAX / 1000 + 30

    def configure(self) -> None:
        opts = self.environment.parsed_options
        self.path = f"/poll?timeout_ms={opts.timeout_ms}&interval_ms={opts.interval_ms}"

    def judge(self, status: int, body: bytes) -> Exception | None:
        if status == 204:
            return None
        if status != 200:
            return PollAnswerError(f"status {status}")
        try:
            ok = isinstance(json.loads(body)["seq"], int)
        except (ValueError, KeyError, TypeError):
            ok = False
        return None if ok else PollAnswerError("no event in the answer")
