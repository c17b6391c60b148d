"""GET /json as fast as possible: serialization."""

from locust import FastHttpUser, constant, task

from loadgen.checks import expect


class JsonUser(FastHttpUser):
    wait_time = constant(0)

    @task
    # Named after its endpoint; Locust's User.json (a config dump) is never called on a user.
    def json(self) -> None:  # type: ignore[override]
        with self.client.get("/json", name="/json", catch_response=True) as resp:
            expect(resp, contains=b'"Hello, World!"')
