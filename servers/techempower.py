"""TechEmpower's six test types, under /te/, on every strategy.

- ``/te/plaintext`` (text/plain ``Hello, World!``) and ``/te/json`` (``{"message": "Hello,
  World!"}``): no I/O, so one shared handler each (``/hello`` and ``/json`` keep their own
  bodies);
- ``/te/db``, ``/te/queries?queries=N``, ``/te/updates?queries=N``, ``/te/fortunes``: the
  World and Fortune tables, through the connections servers/db.py opened for the strategy and
  in its style: sync and multiprocess block on their process's connection, threadpool runs the
  blocking work in its executor, coroutine and fanout await the async pool, gencoroutine
  yields it. The work itself (servers/dbqueries.py: te_blocking, te_async) is the same SQL for all.

fortunes is rendered by ``RequestHandler.render`` from servers/templates/fortunes.html, with
Tornado's default autoescape (xhtml_escape), so the <script> fortune arrives as text.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path
from typing import Any

from tornado import gen, web
from tornado.ioloop import IOLoop

from catalog.server_config import ServerConfig
from catalog.strategies import Style
from catalog.techempower import DB_KINDS, clamp_queries
from servers.db import DbHandler
from servers.dbqueries import te_async, te_blocking
from servers.handlers import BenchHandler, Route

TEMPLATES = Path(__file__).resolve().parent / "templates"
PLAINTEXT = b"Hello, World!"


class PlaintextHandler(BenchHandler):
    """TechEmpower's plaintext: 13 bytes, text/plain (the verifier's pattern allows no more)."""

    def get(self) -> None:
        self.set_header("Content-Type", "text/plain")
        self.finish(PLAINTEXT)


class TeJsonHandler(BenchHandler):
    """TechEmpower's json: exactly one key (the /json endpoint keeps its longer body)."""

    def get(self) -> None:
        self.write_json({"message": "Hello, World!"})


class TeDbHandler(DbHandler):
    """What every strategy's database types share: the kind (from the route), N, the answer."""

    def initialize(self, config: ServerConfig, db: Any = None, **kw: Any) -> None:
        super().initialize(config, db, **kw)
        self.kind: str = kw["kind"]

    def get_template_path(self) -> str:
        """servers/templates, whatever the application's settings say (render's loader)."""
        return str(TEMPLATES)

    def work_args(self) -> tuple[str, int]:
        """(kind, N); a 503 without a database. N follows TechEmpower's clamping rule."""
        if self.db is None:
            raise web.HTTPError(503, "no database configured (start the server with --db-url)")
        if self.kind not in ("queries", "updates"):
            return self.kind, 1
        return self.kind, clamp_queries(self.get_query_argument("queries", None))

    def answer(self, result: Any) -> None:
        """fortunes through the template (text/html; charset=UTF-8, autoescaped); the
        others as JSON: one World object for db, an array of them for queries and updates."""
        if self.kind == "fortunes":
            self.render("fortunes.html", fortunes=result)
            return
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(result))


class BlockingTeHandler(TeDbHandler):
    """sync, multiprocess: the queries block the IOLoop."""

    def get(self) -> None:
        args = self.work_args()
        self.answer(self.db.call(te_blocking, *args))


class ThreadpoolTeHandler(TeDbHandler):
    """threadpool: the blocking work in the executor, on that thread's connection."""

    async def get(self) -> None:
        args = self.work_args()
        result = await IOLoop.current().run_in_executor(
            self.executor, self.db.call, te_blocking, *args
        )
        self.answer(result)


class ProcessPoolTeHandler(TeDbHandler):
    """processpool: the blocking work in a pool worker, on that worker's own connection."""

    async def get(self) -> None:
        from servers import poolwork

        args = self.work_args()
        self.answer(await IOLoop.current().run_in_executor(self.executor, poolwork.te, *args))


class AsyncTeHandler(TeDbHandler):
    """coroutine, fanout: ``async def``, each query awaited on the event loop."""

    async def get(self) -> None:
        args = self.work_args()
        self.answer(await self.db.call(te_async, *args))


class GenTeHandler(TeDbHandler):
    """gencoroutine: ``@gen.coroutine``, the work yielded."""

    @gen.coroutine
    def get(self) -> Generator[Any, Any, None]:
        args = self.work_args()
        result = yield self.db.call(te_async, *args)
        self.answer(result)


# Each Style's handler of the database types (the arguments are checked, and a missing
# database refused with a 503, before the connections are touched).
HANDLERS: dict[Style, type[TeDbHandler]] = {
    Style.BLOCKING: BlockingTeHandler,
    Style.POOL: ThreadpoolTeHandler,
    Style.PROCESS_POOL: ProcessPoolTeHandler,
    Style.AWAITING: AsyncTeHandler,
    Style.GENERATOR: GenTeHandler,
}


def routes(config: ServerConfig, style: Style, kw: dict[str, Any]) -> list[Route]:
    """The six types' routes, the database ones in `style` (kw: config, db and executor, as
    /db gets them)."""
    handler = HANDLERS[style]
    return [
        (r"/te/plaintext", PlaintextHandler, {"config": config}),
        (r"/te/json", TeJsonHandler, {"config": config}),
        *((rf"/te/{kind}", handler, {**kw, "kind": kind}) for kind in DB_KINDS),
    ]
