"""A Locust file for tests/loadgen/test_locust_lag.py (run only by the Locust processes that
test starts): users that report a request every few milliseconds without any network, and,
with BLOCK_HUB_MS set, a greenlet in each load-generating process that holds the event loop
that long four times a second, as a blocking write would."""

from __future__ import annotations

import os
import time
from typing import Any

import gevent
from gevent import monkey
from locust import User, constant, events, task
from locust.runners import MasterRunner

# Locust's time.sleep is gevent's; the original one holds the hub.
_blocking_sleep = monkey.get_original("time", "sleep")
BLOCK_S = float(os.environ.get("BLOCK_HUB_MS", "0")) / 1000
BLOCK_EVERY_S = 0.25


class TickUser(User):
    wait_time = constant(0.005)

    @task
    def tick(self) -> None:
        self.environment.events.request.fire(
            request_type="GET",
            name="/tick",
            response_time=0.1,
            response_length=1,
            exception=None,
            start_time=time.time(),
            context={},
        )


def _block_now_and_then() -> None:
    while True:
        gevent.sleep(BLOCK_EVERY_S)
        _blocking_sleep(BLOCK_S)


@events.test_start.add_listener
def _start(environment: Any, **_: Any) -> None:
    if BLOCK_S > 0 and not isinstance(environment.runner, MasterRunner):
        gevent.spawn(_block_now_and_then)
