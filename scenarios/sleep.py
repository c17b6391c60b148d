"""GET /sleep?ms=--ms: simulated I/O wait."""

from locust import constant, task

from loadgen.checks import expect
from loadgen.http_user import LeanHttpUser


class SleepUser(LeanHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        self.path = f"/sleep?ms={self.environment.parsed_options.ms}"

    @task
    def sleep(self) -> None:
        with self.client.get(self.path, name="/sleep", catch_response=True) as resp:
            expect(resp, contains=b'"slept_ms"')
