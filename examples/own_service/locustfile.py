"""The load for app.py: a plain Locust file, the same one you would run with `locust -f`.

tornado-bench runs it unchanged beside its own recorder, which keeps every request; the suite
sets the users, the host (the port it started the app on) and the time. Anything Locust
offers works here: several User classes, tasks with weights, wait_time, HttpUser or
FastHttpUser (FastHttpUser costs the load generator about a third of the CPU).
"""

from __future__ import annotations

import random
from typing import Any

from locust import FastHttpUser, constant, events, task


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    # The suite's `params = { limit = 10 }` arrive as `--limit 10`: declare every parameter
    # the suite passes, as Locust documents for custom arguments.
    parser.add_argument("--limit", type=int, default=10, help="orders per list request")


class ShopUser(FastHttpUser):
    # No think time: each user sends its next request as soon as an answer arrives, so the
    # number of users is the number of requests in flight. Real people pause, e.g.
    # wait_time = between(1, 3); then each user offers far less load.
    wait_time = constant(0)

    def on_start(self) -> None:
        self.limit = self.environment.parsed_options.limit

    @task(3)
    def list_orders(self) -> None:
        self.client.get(f"/orders?limit={self.limit}", name="/orders")

    @task(1)
    def one_order(self) -> None:
        # One name for every id, so the statistics group them as one endpoint.
        self.client.get(f"/orders/{random.randrange(100)}", name="/orders/{id}")
