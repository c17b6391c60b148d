"""GET /poll?timeout_ms=--timeout_ms&interval_ms=--interval_ms: each user long-polls again as
soon as its answer comes; a record's latency is the wait to the answer. A 200 must carry the
event; a 204 (no event before the timeout) is an answer too."""

from __future__ import annotations

import json
from typing import Any

from locust import FastHttpUser, constant, events, task

from catalog import live
from loadgen.checks import add_option


@events.init_command_line_parser.add_listener
def add_poll_options(parser: Any) -> None:
    add_option(parser, "--timeout_ms", type=int, default=live.DEFAULT_TIMEOUT_MS)
    add_option(parser, "--interval_ms", type=int, default=live.DEFAULT_INTERVAL_MS)


class PollUser(FastHttpUser):
    wait_time = constant(0)
    # Longer than the longest poll the server holds (timeout_ms is at most 60 s).
    network_timeout = live.TIMEOUT_MS_MAX / 1000 + 30

    def on_start(self) -> None:
        opts = self.environment.parsed_options
        self.path = f"/poll?timeout_ms={opts.timeout_ms}&interval_ms={opts.interval_ms}"

    @task
    def poll(self) -> None:
        with self.client.get(self.path, name="/poll", catch_response=True) as resp:
            if resp.status_code == 204:
                resp.success()
            elif resp.status_code != 200:
                resp.failure(f"status {resp.status_code}")
            else:
                try:
                    event = json.loads(resp.content or b"")
                    ok = isinstance(event["seq"], int)
                except (ValueError, KeyError, TypeError):
                    ok = False
                if ok:
                    resp.success()
                else:
                    resp.failure("no event in the answer")
