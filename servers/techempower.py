"""TechEmpower's six test types, under /te/, on every strategy.

- ``/te/plaintext`` (text/plain ``Hello, World!``) and ``/te/json`` (``{"message": "Hello,
  World!"}``): no I/O, so one shared handler each (``/hello`` and ``/json`` keep their own
  bodies);
- ``/te/db``, ``/te/queries?queries=N``, ``/te/updates?queries=N``, ``/te/fortunes``: the
  World and Fortune tables, through the connections servers/withdb.py opened for the strategy and
  in its style: sync and multiprocess block on their process's connection, threadpool runs the
  blocking work in its executor, coroutine and fanout await the async pool, gencoroutine
  yields it. The work itself (servers/tework.py) is the same SQL for all.

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

from servers.config import ServerConfig
from servers.db import (
    AsyncDbHandler,
    BlockingDbHandler,
    DbHandler,
    GenDbHandler,
    ProcessPoolDbHandler,
    ThreadpoolDbHandler,
)
from servers.handlers import BenchHandler
from servers.tework import DB_KINDS, async_work, blocking_work, clamp_queries

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
        self.answer(self.db.call(blocking_work, *self.work_args()))


class ThreadpoolTeHandler(TeDbHandler):
    """threadpool: the blocking work in the executor, on that thread's connection."""

    async def get(self) -> None:
        args = self.work_args()
        result = await IOLoop.current().run_in_executor(
            self.executor, self.db.call, blocking_work, *args
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
        self.answer(await self.db.call(async_work, *self.work_args()))


class GenTeHandler(TeDbHandler):
    """gencoroutine: ``@gen.coroutine``, the work yielded."""

    @gen.coroutine
    def get(self) -> Generator[Any, Any, None]:
        result = yield self.db.call(async_work, *self.work_args())
        self.answer(result)


_STYLES: dict[type[DbHandler], type[TeDbHandler]] = {
    BlockingDbHandler: BlockingTeHandler,
    ThreadpoolDbHandler: ThreadpoolTeHandler,
    ProcessPoolDbHandler: ProcessPoolTeHandler,
    AsyncDbHandler: AsyncTeHandler,
    GenDbHandler: GenTeHandler,
}


def te_style(db_handler: type[DbHandler]) -> type[TeDbHandler]:
    """The TechEmpower handler in the style of a strategy's /db handler (or of the nearest
    style it derives from)."""
    for cls in db_handler.__mro__:
        if cls in _STYLES:
            return _STYLES[cls]
    raise KeyError(f"no TechEmpower style for {db_handler.__name__}")


def te_routes(config: ServerConfig, db_handler: type[DbHandler], kw: dict[str, Any]) -> list[Any]:
    """The six types' routes, the database ones in the strategy's style (kw: config, db and
    executor, as /db gets them)."""
    handler = te_style(db_handler)
    return [
        (r"/te/plaintext", PlaintextHandler, {"config": config}),
        (r"/te/json", TeJsonHandler, {"config": config}),
        *((rf"/te/{kind}", handler, {**kw, "kind": kind}) for kind in DB_KINDS),
    ]
