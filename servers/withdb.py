"""Where a strategy's database handlers are routed: ``/db`` (servers/db.py) and TechEmpower's
``/te/...`` types (servers/techempower.py), both on the connections opened here, in the
strategy's style. Each variant's make_app is decorated with ``with_db``; this module sits above
both handler modules, so neither imports the other's routes.
"""

from __future__ import annotations

import functools
from typing import Any

from tornado import web

from servers.config import ServerConfig
from servers.db import (
    AsyncDbHandler,
    BlockingDbHandler,
    DbHandler,
    GenDbHandler,
    InPoolWorkers,
    ProcessPoolDbHandler,
    ThreadpoolDbHandler,
)
from servers.dbqueries import AsyncPool, BlockingConnection, ThreadPoolConnections
from servers.techempower import te_routes

_STYLES: dict[type[DbHandler], Any] = {
    BlockingDbHandler: lambda c: BlockingConnection(c.db_url),
    ThreadpoolDbHandler: lambda c: ThreadPoolConnections(c.db_url, c.threads),
    ProcessPoolDbHandler: lambda c: InPoolWorkers(c.db_url),
    AsyncDbHandler: lambda c: AsyncPool(c.db_url, c.db_pool),
    GenDbHandler: lambda c: AsyncPool(c.db_url, c.db_pool),
}


def add_db(app: web.Application, config: ServerConfig, handler: type[DbHandler]) -> web.Application:
    """Route /db (and TechEmpower's /te/... types) to a strategy's handlers, with its
    connections opened now (when the server has a --db-url). The connections are kept in
    app.settings["db"] for release()."""
    db = _STYLES[handler](config) if config.db_url else None
    app.settings["db"] = db
    kw = {"config": config, "db": db, "executor": app.settings.get("executor")}
    app.wildcard_router.add_rules([(r"/db", handler, kw)])
    # TechEmpower's test types (/te/...), their database ones on the same connections.
    app.wildcard_router.add_rules(te_routes(config, handler, kw))
    return app


def with_db(handler: type[DbHandler]) -> Any:
    """Decorates a strategy's make_app: its application also serves /db with `handler`."""

    def wrap(make_app: Any) -> Any:
        @functools.wraps(make_app)
        def make(config: ServerConfig) -> web.Application:
            return add_db(make_app(config), config, handler)

        return make

    return wrap
