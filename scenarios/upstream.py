"""GET /upstream?ms=--ms: one real call to the backend per request."""

from locust import constant, task

from loadgen.checks import expect
from loadgen.http_user import LeanHttpUser


class UpstreamUser(LeanHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        self.path = f"/upstream?ms={self.environment.parsed_options.ms}"

    @task
    def upstream(self) -> None:
        with self.client.get(self.path, name="/upstream", catch_response=True) as resp:
            expect(resp, contains=b'"upstream"')
