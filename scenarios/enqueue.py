"""GET /enqueue?ms=--ms (or ?n=--n when --n is above 0): respond now, work later. The answer
must say the job was accepted; a 503 (the server's backlog is full) is a failure."""

from locust import constant, task

from loadgen.checks import expect
from loadgen.http_user import LeanHttpUser


class EnqueueUser(LeanHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        opts = self.environment.parsed_options
        self.path = f"/enqueue?n={opts.n}" if opts.n > 0 else f"/enqueue?ms={opts.ms}"

    @task
    def enqueue(self) -> None:
        with self.client.get(self.path, name="/enqueue", catch_response=True) as resp:
            expect(resp, contains=b'"accepted": true')
