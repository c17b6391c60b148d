"""The database side of /db without Tornado: the schema and queries, what a right answer
is, and the connections each strategy uses (servers/db.py routes /db to them). Importing
this module loads no driver: psycopg is imported when a connection is made."""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

from record.errors import first_line
from servers.config import MS_MAX

QUERIES = ("sleep", "rows", "write")
DB_ROWS = 10_000  # rows in the seeded table: /db?query=rows&n=N reads at most this many
CATEGORIES = 10
CONNECT_TIMEOUT_S = 3
# A request waits at most this long for a free pooled connection, then it is a 503. Queueing
# for a connection under load is not an error (50 users on 10 connections queue), so the
# wait is long; a pool whose connections all broke (the database died) fails a request at
# once when it hands out a broken one, and within this wait when none can be made.
POOL_WAIT_S = 30.0
# The server never waits on the database beyond the largest sleep it accepts plus slack.
STATEMENT_TIMEOUT_MS = MS_MAX + 5_000

ITEMS, CATS, WRITES = "bench_items", "bench_categories", "bench_writes"
SCHEMA_SQL = f"""
CREATE TABLE IF NOT EXISTS {CATS} (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE IF NOT EXISTS {ITEMS} (
    id int PRIMARY KEY,
    category_id int NOT NULL REFERENCES {CATS} (id),
    name text NOT NULL,
    price_cents int NOT NULL
);
CREATE TABLE IF NOT EXISTS {WRITES} (
    id bigserial PRIMARY KEY,
    note text NOT NULL,
    created timestamptz NOT NULL DEFAULT now()
);
INSERT INTO {CATS} SELECT g, 'category-' || g FROM generate_series(0, {CATEGORIES - 1}) g
    ON CONFLICT DO NOTHING;
INSERT INTO {ITEMS}
    SELECT g, g % {CATEGORIES}, 'item-' || g, (g * 37) % 10000 FROM generate_series(1, {DB_ROWS}) g
    ON CONFLICT DO NOTHING;
ANALYZE {CATS}; ANALYZE {ITEMS};
"""
SLEEP_SQL = "SELECT %s::int FROM pg_sleep(%s)"
ROWS_SQL = (
    f"SELECT i.id, i.name, c.name, i.price_cents FROM {ITEMS} i "
    f"JOIN {CATS} c ON c.id = i.category_id ORDER BY i.id LIMIT %s"
)
WRITE_SQL = f"INSERT INTO {WRITES} (note) VALUES (%s) RETURNING id"


def expected_rows(n: int) -> dict[str, Any]:
    """What /db?query=rows&n=N must answer (the seeded table is known): verification and the
    Locust checks compare against it."""
    return {
        "query": "rows",
        "n": n,
        "id_sum": n * (n + 1) // 2,
        "last": [n, f"item-{n}", f"category-{n % CATEGORIES}", (n * 37) % 10000],
    }


def conninfo_kwargs() -> dict[str, Any]:
    return {
        "autocommit": True,
        "connect_timeout": CONNECT_TIMEOUT_S,
        "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
        "application_name": f"tornado-bench-{os.getpid()}",
    }


class DbUnavailable(Exception):
    """The database cannot answer: no connection, or it failed mid-query (a 503)."""


def _unavailable(exc: BaseException) -> DbUnavailable:
    # The first line of the driver's message (never a traceback) tells what went wrong.
    return DbUnavailable(f"database unavailable: {first_line(exc)[:200]}")


def _driver_errors() -> tuple[type[BaseException], ...]:
    import psycopg
    import psycopg_pool

    return (psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout,
            psycopg_pool.PoolClosed, OSError)  # fmt: skip


# --- the work on one connection (blocking and async, the same SQL) -------------------------


def _run_blocking(conn: Any, query: str, ms: int, n: int) -> dict[str, Any]:
    if query == "sleep":
        row = conn.execute(SLEEP_SQL, (ms, ms / 1000.0)).fetchone()
        return {"query": "sleep", "ms": row[0]}
    if query == "rows":
        rows = conn.execute(ROWS_SQL, (n,)).fetchall()
        return _rows_body(rows)
    with conn.transaction():
        row = conn.execute(WRITE_SQL, (f"pid {os.getpid()}",)).fetchone()
    return {"query": "write", "id": row[0]}


async def _run_async(conn: Any, query: str, ms: int, n: int) -> dict[str, Any]:
    if query == "sleep":
        cur = await conn.execute(SLEEP_SQL, (ms, ms / 1000.0))
        row = await cur.fetchone()
        return {"query": "sleep", "ms": row[0]}
    if query == "rows":
        cur = await conn.execute(ROWS_SQL, (n,))
        return _rows_body(await cur.fetchall())
    async with conn.transaction():
        cur = await conn.execute(WRITE_SQL, (f"pid {os.getpid()}",))
        row = await cur.fetchone()
    return {"query": "write", "id": row[0]}


def _rows_body(rows: list[Any]) -> dict[str, Any]:
    last = list(rows[-1]) if rows else []
    return {"query": "rows", "n": len(rows), "id_sum": sum(r[0] for r in rows), "last": last}


# --- one connection per process, one per pooled thread, an async pool -------------------


class BlockingConnection:
    """sync, multiprocess: one psycopg connection, opened at start, reopened on the next
    request after it broke (a restarted database is used again)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: Any = None
        self.error = ""
        with contextlib.suppress(DbUnavailable):
            self._connect()

    def _connect(self) -> Any:
        import psycopg

        try:
            self.conn = psycopg.connect(self.url, **conninfo_kwargs())
        except _driver_errors() as exc:
            self.conn = None
            raise _unavailable(exc) from None
        return self.conn

    def run(self, query: str, ms: int, n: int) -> dict[str, Any]:
        result: dict[str, Any] = self.call(_run_blocking, query, ms, n)
        return result

    def call(self, work: Any, *args: Any) -> Any:
        """work(connection, *args) on this process's connection; DbUnavailable when the
        database cannot answer."""
        conn = self.conn if self.conn is not None and not self.conn.closed else self._connect()
        try:
            return work(conn, *args)
        except _driver_errors() as exc:
            if conn.broken or conn.closed:
                self.conn = None
            raise _unavailable(exc) from None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


class ThreadPoolConnections:
    """threadpool: a ConnectionPool as large as the executor, so every thread has one."""

    def __init__(self, url: str, size: int) -> None:
        from psycopg_pool import ConnectionPool

        self.pool = ConnectionPool(
            url,
            min_size=size,
            max_size=size,
            kwargs=conninfo_kwargs(),
            open=False,
            timeout=POOL_WAIT_S,
            name="bench",
        )
        # Open at start; a database that is not there yet is retried in the background.
        self.pool.open(wait=False)

    def run(self, query: str, ms: int, n: int) -> dict[str, Any]:
        result: dict[str, Any] = self.call(_run_blocking, query, ms, n)
        return result

    def call(self, work: Any, *args: Any) -> Any:
        """work(connection, *args) on a pooled connection, in the calling (pool) thread."""
        try:
            with self.pool.connection() as conn:
                return work(conn, *args)
        except _driver_errors() as exc:
            raise _unavailable(exc) from None

    def close(self) -> None:
        self.pool.close(timeout=1.0)


class AsyncPool:
    """coroutine, fanout, gencoroutine: an AsyncConnectionPool on the server's event loop,
    opened when the application is built inside the running loop (in-process tests build it
    before the loop runs: it opens on the first request there)."""

    def __init__(self, url: str, size: int) -> None:
        self.url, self.size = url, size
        self.pool: Any = None
        self._opening: asyncio.Future[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop()
            self._start()

    def _start(self) -> asyncio.Future[Any]:
        from psycopg_pool import AsyncConnectionPool

        self._loop = asyncio.get_running_loop()
        self.pool = AsyncConnectionPool(
            self.url,
            min_size=self.size,
            max_size=self.size,
            kwargs=conninfo_kwargs(),
            open=False,
            timeout=POOL_WAIT_S,
            name="bench",
        )
        self._opening = asyncio.ensure_future(self.pool.open(wait=False))
        return self._opening

    async def run(self, query: str, ms: int, n: int) -> dict[str, Any]:
        result: dict[str, Any] = await self.call(_run_async, query, ms, n)
        return result

    async def call(self, work: Any, *args: Any) -> Any:
        """await work(connection, *args) on a pooled async connection."""
        opening = self._opening if self._opening is not None else self._start()
        await asyncio.shield(opening)
        try:
            async with self.pool.connection() as conn:
                return await work(conn, *args)
        except _driver_errors() as exc:
            raise _unavailable(exc) from None

    def close(self) -> None:
        if self.pool is None or self._loop is None or self._loop.is_closed():
            return
        if self._loop.is_running():
            self._loop.create_task(self.pool.close(timeout=1.0))
        else:
            self._loop.run_until_complete(self.pool.close(timeout=1.0))

    async def aclose(self) -> None:
        """close() from a coroutine on the pool's own loop (a server stopping in-process)."""
        if self.pool is not None:
            await self.pool.close(timeout=1.0)
