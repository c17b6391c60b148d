"""Which Tornado application each variant serves, and the one function that builds it.

A strategy is its facts (catalog/strategies.py: its Style, whether it forks or fans out
concurrently), its own handlers for the request → response workloads (one module per strategy)
and the resources those handlers share (a thread pool, a process pool, a kept-alive backend
connection). Every other workload's handlers are chosen by the strategy's Style from the
workload's own table: servers/live.py, servers/upload.py, servers/db.py, servers/techempower.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from tornado import web

from catalog.server_config import ServerConfig
from catalog.strategies import BACKEND, VARIANTS, Style
from servers import (
    backend,
    coroutine,
    db,
    fanout,
    gencoroutine,
    live,
    processpool,
    sync,
    techempower,
    threadpool,
    upload,
)
from servers.handlers import Handlers, common_routes, make_application
from servers.work import Backlog

Resources = Callable[[ServerConfig], dict[str, Any]]


def no_resources(config: ServerConfig) -> dict[str, Any]:
    """The awaiting strategies share nothing between requests but the event loop."""
    return {}


@dataclass(frozen=True)
class Strategy:
    """A strategy's own handlers and what they share (kept in the application's settings too,
    for servers/handlers.py `release`)."""

    handlers: Handlers
    resources: Resources = no_resources


STRATEGIES: dict[str, Strategy] = {
    "sync": Strategy(sync.HANDLERS, sync.resources),
    "coroutine": Strategy(coroutine.HANDLERS),
    "threadpool": Strategy(threadpool.HANDLERS, threadpool.resources),
    # coroutine's handlers, but for /fanout, whose calls are awaited together.
    "fanout": Strategy(replace(coroutine.HANDLERS, fanout=fanout.ConcurrentFanoutHandler)),
    # sync's handlers in each forked process (servers/launch.py forks before the loop starts).
    "multiprocess": Strategy(sync.HANDLERS, sync.resources),
    "gencoroutine": Strategy(gencoroutine.HANDLERS),
    "processpool": Strategy(processpool.HANDLERS, processpool.resources),
}


def strategy_app(config: ServerConfig, style: Style, strategy: Strategy) -> web.Application:
    """Every endpoint of a strategy: the shared routes, its own handlers, and each other
    workload's handlers in its Style. Each handler gets the config and the shared resources
    through ``initialize``; the process's /enqueue backlog, LiveHub (/health reports both) and
    database connections are kept in the application's settings."""
    shared = strategy.resources(config)
    connections = db.connections(config, style)
    hub = live.LiveHub()
    kw = {"config": config, **shared}
    db_kw = {**kw, "db": connections}
    app = make_application(
        [
            *common_routes(config),
            *strategy.handlers.routes(kw),
            *live.routes(style, {**kw, "hub": hub}),
            (r"/db", db.HANDLERS[style], db_kw),
            *techempower.routes(config, style, db_kw),
        ],
        backlog=Backlog(config.max_backlog),
        live=hub,
        db=connections,
        **shared,
    )
    app.wildcard_router.add_rules([upload.route(app, config, style, kw)])
    return app


def make_app(config: ServerConfig) -> web.Application:
    """The application of config.variant: a strategy under test, or the upstream backend."""
    if config.variant == BACKEND:
        return backend.make_app(config)
    return strategy_app(config, VARIANTS[config.variant].style, STRATEGIES[config.variant])
