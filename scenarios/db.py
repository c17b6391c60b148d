"""GET /db?query=...: a real PostgreSQL upstream (servers/db.py). One user class per query,
each in its own scenario file (db_sleep.py, db_rows.py, db_write.py), which Locust loads
alone; this file holds what they share and is never handed to Locust itself."""

from locust import constant, events, task

from loadgen.checks import add_option, expect
from loadgen.http_user import LeanHttpUser


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    # The awaiting strategies' connection pool: the server is started with it; the Locust
    # side only accepts it (every scenario parameter reaches Locust's command line).
    add_option(parser, "--pool", type=int, default=10, help="db: the server's pool size")


class DbUser(LeanHttpUser):
    abstract = True
    wait_time = constant(0)
    query = ""

    def request(self) -> tuple[str, bytes]:
        """The path to send and a part of the body every right answer contains."""
        raise NotImplementedError

    def on_start(self) -> None:
        self.path, self.expected = self.request()

    @task
    def db(self) -> None:
        with self.client.get(self.path, name=f"/db?query={self.query}", catch_response=True) as r:
            expect(r, contains=self.expected)


class DbSleepUser(DbUser):
    abstract = True
    query = "sleep"

    def request(self) -> tuple[str, bytes]:
        ms = self.environment.parsed_options.ms
        return f"/db?query=sleep&ms={ms}", f'"ms": {ms}'.encode()


class DbRowsUser(DbUser):
    abstract = True
    query = "rows"

    def request(self) -> tuple[str, bytes]:
        n = self.environment.parsed_options.n
        # The seeded ids are 1..N, read in order (servers/db.py expected_rows).
        return f"/db?query=rows&n={n}", f'"id_sum": {n * (n + 1) // 2}'.encode()


class DbWriteUser(DbUser):
    abstract = True
    query = "write"

    def request(self) -> tuple[str, bytes]:
        return "/db?query=write", b'"id": '
