"""TechEmpower's test types (servers/techempower.py, under /te/): one user class per type,
each in its own scenario file (te_plaintext.py ... te_fortunes.py), which Locust loads alone;
this file holds what they share and is never handed to Locust itself. Each answer is checked
cheaply here (status, and the part of the body only a right answer has); the full checks of
TechEmpower's verifier run once before the load (harness/verify_te.py)."""

from locust import constant, events, task

from loadgen.checks import add_option
from loadgen.http_user import LeanHttpUser
from scenarios import db  # noqa: F401  (declares --pool, the server's pool size)


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    add_option(
        parser, "--queries", type=int, default=20, help="te-queries, te-updates: rows per request"
    )


class TeUser(LeanHttpUser):
    abstract = True
    wait_time = constant(0)
    kind = ""

    def on_start(self) -> None:
        self.path = f"/te/{self.kind}"

    def right(self, body: bytes) -> bool:
        raise NotImplementedError

    @task
    def te(self) -> None:
        with self.client.get(self.path, name=f"/te/{self.kind}", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"status {r.status_code}")
            elif not self.right(r.content or b""):
                r.failure("unexpected body")
            else:
                r.success()


class TePlaintextBase(TeUser):
    abstract = True
    kind = "plaintext"

    def right(self, body: bytes) -> bool:
        return body == b"Hello, World!"


class TeJsonBase(TeUser):
    abstract = True
    kind = "json"

    def right(self, body: bytes) -> bool:
        return body == b'{"message": "Hello, World!"}'


class TeDbBase(TeUser):
    abstract = True
    kind = "db"

    def right(self, body: bytes) -> bool:
        return body.startswith(b'{"id": ') and body.count(b'"randomNumber": ') == 1


class TeQueriesBase(TeUser):
    abstract = True
    kind = "queries"

    def on_start(self) -> None:
        self.n = self.environment.parsed_options.queries
        self.path = f"/te/{self.kind}?queries={self.n}"

    def right(self, body: bytes) -> bool:
        return body.startswith(b"[") and body.count(b'"randomNumber": ') == self.n


class TeUpdatesBase(TeQueriesBase):
    abstract = True
    kind = "updates"


class TeFortunesBase(TeUser):
    abstract = True
    kind = "fortunes"
    # Only a page with the added row, the <script> row escaped and the Japanese row in UTF-8.
    MARKS = (
        b"Additional fortune added at request time.",
        b"<td>&lt;script&gt;alert(",
        "フレームワークのベンチマーク".encode(),
    )

    def right(self, body: bytes) -> bool:
        return all(mark in body for mark in self.MARKS) and body.count(b"<tr>") == 14
