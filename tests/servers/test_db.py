"""/db on every variant against a real (throwaway) PostgreSQL: each query's result verified as
the harness verifies it before load, bad input answered 400, a database that is gone 503."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from catalog.db import DB_ROWS
from catalog.server_config import ServerConfig
from catalog.strategies import VARIANT_NAMES, forks
from catalog.workloads import WORKLOADS
from harness.processes import postgres, procs
from harness.verify import verify
from tests.conftest import Server

pytestmark = pytest.mark.skipif(
    postgres.missing_reason() is not None, reason=postgres.missing_reason() or ""
)


def start_db_server(variant: str, db_url: str | None, *extra: str) -> Server:
    port = procs.free_port()
    config = ServerConfig(
        variant=variant, port=port, processes=2 if forks(variant) else 0, db_url=db_url
    )
    child = procs.start(variant, [*procs.server_argv(config), *extra])
    try:
        procs.wait_ready(f"http://127.0.0.1:{port}/health", child)
    except Exception:
        child.stop()
        raise
    return Server(child, port)


@pytest.fixture(scope="module")
def database() -> Iterator[postgres.Database]:
    db = postgres.start_throwaway()
    try:
        yield db
    finally:
        db.stop()
    assert not db.folder.exists()


@pytest.fixture
def db_server() -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def factory(variant: str, db_url: str | None, *extra: str) -> Server:
        server = start_db_server(variant, db_url, *extra)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.child.stop()


def db_paths() -> list[str]:
    return [
        *WORKLOADS["db-sleep"].paths({"ms": 5, "pool": 4}),
        *WORKLOADS["db-rows"].paths({"n": 1, "pool": 4}),
        *WORKLOADS["db-rows"].paths({"n": 250, "pool": 4}),
        *WORKLOADS["db-rows"].paths({"n": DB_ROWS, "pool": 4}),
        *WORKLOADS["db-write"].paths({"pool": 4}),
    ]


@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_db_answers_pass_verification(
    variant: str, database: postgres.Database, db_server: Callable[..., Server]
) -> None:
    server = db_server(variant, database.url, "--db-pool", "4")
    assert verify(server.base, db_paths()) == []
    # Two writes get two different rows.
    ids = {server.get("/db?query=write")[2] for _ in range(2)}
    assert len(ids) == 2


def test_verification_reads_the_rows(database: postgres.Database) -> None:
    """Not just the status: a seeded row that changed fails verification."""
    server = start_db_server("sync", database.url)
    try:
        with postgres.connect(database.url) as conn:
            conn.execute("UPDATE bench_items SET name = 'changed' WHERE id = 10")
        problems = verify(server.base, ["/db?query=rows&n=10"])
    finally:
        server.child.stop()
        with postgres.connect(database.url) as conn:
            conn.execute("UPDATE bench_items SET name = 'item-10' WHERE id = 10")
    assert len(problems) == 1 and "wrong rows" in problems[0], problems


BAD = [
    ("/db", "query must be one of sleep, rows, write"),
    ("/db?query=drop", "query must be one of sleep, rows, write"),
    ("/db?query=sleep", "ms must be an integer in 0..10000"),
    ("/db?query=sleep&ms=10001", "ms must be an integer in 0..10000"),
    ("/db?query=sleep&ms=-1", "ms must be an integer in 0..10000"),
    ("/db?query=rows", f"n must be an integer in 1..{DB_ROWS}"),
    ("/db?query=rows&n=0", f"n must be an integer in 1..{DB_ROWS}"),
    (f"/db?query=rows&n={DB_ROWS + 1}", f"n must be an integer in 1..{DB_ROWS}"),
    ("/db?query=rows&n=1e3", f"n must be an integer in 1..{DB_ROWS}"),
]


@pytest.mark.parametrize("variant", ["sync", "threadpool", "coroutine", "gencoroutine"])
def test_bad_input_is_400_with_a_message(
    variant: str, database: postgres.Database, db_server: Callable[..., Server]
) -> None:
    server = db_server(variant, database.url)
    for path, message in BAD:
        status, _, body = server.get(path)
        assert status == 400, (path, status, body)
        assert body.decode() == f"400: {message}\n", path


def test_no_database_configured_is_503(db_server: Callable[..., Server]) -> None:
    server = db_server("coroutine", None)
    status, _, body = server.get("/db?query=write")
    assert status == 503
    assert b"no database configured" in body


@pytest.mark.parametrize("variant", ["sync", "threadpool", "coroutine", "multiprocess"])
def test_a_database_that_died_is_503_with_a_message(
    variant: str, db_server: Callable[..., Server]
) -> None:
    db = postgres.start_throwaway()
    try:
        server = db_server(variant, db.url, "--db-pool", "2", "--threads", "2")
        assert server.get("/db?query=sleep&ms=1")[0] == 200
        db.kill()
        status, headers, body = server.get("/db?query=sleep&ms=1", timeout=20)
        assert status == 503, body
        assert headers["Content-Type"].startswith("text/plain")
        assert body.startswith(b"503: database unavailable: "), body
        assert b"Traceback" not in body
        assert server.child.alive()
    finally:
        db.stop()
    assert not db.folder.exists()
