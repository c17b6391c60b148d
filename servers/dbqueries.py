"""The database side of /db and of TechEmpower's database types without Tornado: the work on
one connection (blocking and async, the same SQL: catalog/db.py and catalog/techempower.py)
and the connections each strategy uses (servers/db.py routes /db to them). Importing this
module loads no driver: psycopg is imported when a connection is made."""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

from catalog.db import CONNECT_TIMEOUT_S, ROWS_SQL, SLEEP_SQL, WRITE_SQL
from catalog.limits import MS_MAX
from catalog.techempower import (
    FORTUNE_SQL,
    UPDATE_SQL,
    WORLD_SQL,
    random_id,
    random_number,
    sorted_fortunes,
    world,
)
from record.errors import first_line

# A request waits at most this long for a free pooled connection, then it is a 503. Queueing
# for a connection under load is not an error (50 users on 10 connections queue), so the
# wait is long; a pool whose connections all broke (the database died) fails a request at
# once when it hands out a broken one, and within this wait when none can be made.
POOL_WAIT_S = 30.0
# The server never waits on the database beyond the largest sleep it accepts plus slack.
STATEMENT_TIMEOUT_MS = MS_MAX + 5_000


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


# --- TechEmpower's database types: blocking (sync, multiprocess, threadpool) ----------------


def te_blocking(conn: Any, kind: str, n: int) -> Any:
    """One type's database work on a psycopg connection. queries and updates read each row
    with a query of its own (TechEmpower forbids IN and the like); updates then write the new
    numbers in one batch (allowed), in the connection's autocommit mode."""
    if kind == "fortunes":
        return sorted_fortunes(conn.execute(FORTUNE_SQL).fetchall())
    count = 1 if kind == "db" else n
    worlds = [world(conn.execute(WORLD_SQL, (random_id(),)).fetchone()) for _ in range(count)]
    if kind == "updates":
        for w in worlds:
            w["randomNumber"] = random_number()
        with conn.cursor() as cur:
            cur.executemany(UPDATE_SQL, [(w["randomNumber"], w["id"]) for w in worlds])
    return worlds[0] if kind == "db" else worlds


async def te_async(conn: Any, kind: str, n: int) -> Any:
    """te_blocking's queries on psycopg's AsyncConnection, each awaited in turn."""
    if kind == "fortunes":
        cur = await conn.execute(FORTUNE_SQL)
        return sorted_fortunes(await cur.fetchall())
    count = 1 if kind == "db" else n
    worlds = []
    for _ in range(count):
        cur = await conn.execute(WORLD_SQL, (random_id(),))
        worlds.append(world(await cur.fetchone()))
    if kind == "updates":
        for w in worlds:
            w["randomNumber"] = random_number()
        async with conn.cursor() as acur:
            await acur.executemany(UPDATE_SQL, [(w["randomNumber"], w["id"]) for w in worlds])
    return worlds[0] if kind == "db" else worlds


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
