"""A weighted mix: hello 4, json 3, sleep?ms=--ms 2, cpu?n=--n 1."""

from locust import constant, task

from catalog.payloads import cpu_work
from loadgen.checks import expect
from loadgen.http_user import LeanHttpUser


class MixedUser(LeanHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        opts = self.environment.parsed_options
        self.sleep_path = f"/sleep?ms={opts.ms}"
        self.cpu_path = f"/cpu?n={opts.n}"
        self.cpu_result = f'"result": {cpu_work(opts.n)}'.encode()

    @task(4)
    def hello(self) -> None:
        with self.client.get("/hello", name="/hello", catch_response=True) as resp:
            expect(resp, contains=b"Hello, world")

    @task(3)
    # Named after its endpoint; Locust's User.json (a config dump) is never called on a user.
    def json(self) -> None:  # type: ignore[override]
        with self.client.get("/json", name="/json", catch_response=True) as resp:
            expect(resp, contains=b'"Hello, World!"')

    @task(2)
    def sleep(self) -> None:
        with self.client.get(self.sleep_path, name="/sleep", catch_response=True) as resp:
            expect(resp, contains=b'"slept_ms"')

    @task(1)
    def cpu(self) -> None:
        with self.client.get(self.cpu_path, name="/cpu", catch_response=True) as resp:
            expect(resp, contains=self.cpu_result)
