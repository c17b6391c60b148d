"""GET /json as fast as possible: serialization."""

from locust import constant, task

from loadgen.checks import expect
from loadgen.http_user import LeanHttpUser


class JsonUser(LeanHttpUser):
    wait_time = constant(0)

    @task
    # Named after its endpoint; Locust's User.json (a config dump) is never called on a user.
    def json(self) -> None:  # type: ignore[override]
        with self.client.get("/json", name="/json", catch_response=True) as resp:
            expect(resp, contains=b'"Hello, World!"')
