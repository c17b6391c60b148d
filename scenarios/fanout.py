"""GET /fanout?n=--n&ms=--ms: n independent backend calls; every id must come back."""

import json

from locust import constant, task

from loadgen.checks import expect
from loadgen.http_user import LeanHttpUser


class FanoutUser(LeanHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        opts = self.environment.parsed_options
        self.path = f"/fanout?n={opts.n}&ms={opts.ms}"
        self.ids = f'"ids": {json.dumps(list(range(opts.n)))}'.encode()

    @task
    def fanout(self) -> None:
        with self.client.get(self.path, name="/fanout", catch_response=True) as resp:
            expect(resp, contains=self.ids)
