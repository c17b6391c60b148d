"""GET /hello as fast as possible: framework overhead."""

from locust import constant, task

from loadgen.checks import expect
from loadgen.http_user import LeanHttpUser


class HelloUser(LeanHttpUser):
    wait_time = constant(0)

    @task
    def hello(self) -> None:
        with self.client.get("/hello", name="/hello", catch_response=True) as resp:
            expect(resp, contains=b"Hello, world")
