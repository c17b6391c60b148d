"""GET /cpu?n=--n: pure-Python CPU work; the body must carry the right result."""

from locust import constant, task

from catalog.payloads import cpu_work
from loadgen.checks import expect
from loadgen.http_user import LeanHttpUser


class CpuUser(LeanHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        n = self.environment.parsed_options.n
        self.path = f"/cpu?n={n}"
        self.result = f'"result": {cpu_work(n)}'.encode()

    @task
    def cpu(self) -> None:
        with self.client.get(self.path, name="/cpu", catch_response=True) as resp:
            expect(resp, contains=self.result)
