"""GET /db?query=sleep|rows|write: a real PostgreSQL upstream, used in each strategy's style.

- sync, multiprocess: psycopg 3, one blocking connection per process, on the IOLoop (a
  forking server opens it in each process after the fork: make_app runs there);
- threadpool: the blocking driver inside the executor, a connection per thread from a
  psycopg_pool ConnectionPool of ``--threads`` connections;
- coroutine, fanout, gencoroutine: psycopg 3's async driver, an AsyncConnectionPool of
  ``--db-pool`` connections (one driver family for blocking and async: the same SQL, types
  and errors on both sides).

Connections open when the server starts, not per request. A database that is down or dies
makes a 503 with a message, never a 500 traceback. The queries:

- ``sleep`` (``ms``): ``SELECT pg_sleep(ms/1000.0)``: a wait spent in the database;
- ``rows`` (``n``): the first n rows of a seeded table joined to another, ORDER BY id;
- ``write``: one INSERT in a transaction, RETURNING its id.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from tornado import gen, web
from tornado.ioloop import IOLoop

from catalog.db import DB_ROWS, QUERIES
from catalog.server_config import ServerConfig
from catalog.strategies import Style
from servers.dbqueries import AsyncPool, BlockingConnection, DbUnavailable, ThreadPoolConnections
from servers.handlers import BenchHandler

# --- the handlers ----------------------------------------------------------------------


class DbHandler(BenchHandler):
    """Parameters and answers shared by every strategy's /db."""

    def initialize(self, config: ServerConfig, db: Any = None, **kw: Any) -> None:
        super().initialize(config)
        self.db = db
        self.executor = kw.get("executor")

    def db_params(self) -> tuple[str, int, int]:
        query = self.get_query_argument("query", None)
        if query not in QUERIES:
            raise web.HTTPError(400, f"query must be one of {', '.join(QUERIES)}")
        ms = self.ms_param() if query == "sleep" else 0
        n = self.int_param("n", 1, DB_ROWS) if query == "rows" else 0
        if self.db is None:
            raise web.HTTPError(503, "no database configured (start the server with --db-url)")
        return query, ms, n

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        exc = exc_info[1] if exc_info is not None else None
        if isinstance(exc, DbUnavailable):
            self.set_status(503)
            self.set_header("Content-Type", "text/plain; charset=UTF-8")
            self.finish(f"503: {exc}\n")
            return
        super().write_error(status_code, **kwargs)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, DbUnavailable):
            return  # an answer (503), not a server fault
        super().log_exception(typ, value, tb)


class BlockingDbHandler(DbHandler):
    """sync, multiprocess: the query blocks the IOLoop."""

    def get(self) -> None:
        query, ms, n = self.db_params()
        self.write_json(self.db.run(query, ms, n))


class ThreadpoolDbHandler(DbHandler):
    """threadpool: the blocking query runs in the executor on that thread's connection."""

    async def get(self) -> None:
        query, ms, n = self.db_params()
        result = await IOLoop.current().run_in_executor(self.executor, self.db.run, query, ms, n)
        self.write_json(result)


class ProcessPoolDbHandler(DbHandler):
    """processpool: the blocking query runs in a pool worker, on that worker's own
    connection (servers/poolwork.py opens one per worker process at start)."""

    async def get(self) -> None:
        from servers import poolwork

        query, ms, n = self.db_params()
        result = await IOLoop.current().run_in_executor(self.executor, poolwork.db, query, ms, n)
        self.write_json(result)


class InPoolWorkers:
    """processpool's connections: they live in the pool's workers, not in this process."""

    def __init__(self, url: str) -> None:
        self.url = url

    def close(self) -> None:
        """Nothing here to close: each worker's connection ends with the worker."""


class AsyncDbHandler(DbHandler):
    """coroutine, fanout: ``async def``, the query awaited on the event loop."""

    async def get(self) -> None:
        query, ms, n = self.db_params()
        self.write_json(await self.db.run(query, ms, n))


class GenDbHandler(DbHandler):
    """gencoroutine: ``@gen.coroutine``, the query yielded."""

    @gen.coroutine
    def get(self) -> Generator[Any, Any, None]:
        query, ms, n = self.db_params()
        result = yield self.db.run(query, ms, n)
        self.write_json(result)


# Each Style's /db handler, and the connections it runs on (opened when the server starts,
# only when it has a --db-url): sync and multiprocess one blocking connection per process,
# threadpool one per pool thread, processpool one in each worker process, the awaiting
# styles an async pool of --db-pool connections.
HANDLERS: dict[Style, type[DbHandler]] = {
    Style.BLOCKING: BlockingDbHandler,
    Style.POOL: ThreadpoolDbHandler,
    Style.PROCESS_POOL: ProcessPoolDbHandler,
    Style.AWAITING: AsyncDbHandler,
    Style.GENERATOR: GenDbHandler,
}
_CONNECTIONS: dict[Style, Callable[[str, ServerConfig], Any]] = {
    Style.BLOCKING: lambda url, c: BlockingConnection(url),
    Style.POOL: lambda url, c: ThreadPoolConnections(url, c.threads),
    Style.PROCESS_POOL: lambda url, c: InPoolWorkers(url),
    Style.AWAITING: lambda url, c: AsyncPool(url, c.db_pool),
    Style.GENERATOR: lambda url, c: AsyncPool(url, c.db_pool),
}


def connections(config: ServerConfig, style: Style) -> Any:
    """The database connections of a server in `style`, or None without a --db-url (then
    /db and TechEmpower's database types answer 503). Every one of them has close()."""
    return _CONNECTIONS[style](config.db_url, config) if config.db_url else None
