"""Which Tornado application each variant serves.

The facts about a strategy (its name, summary, whether it forks or fans out concurrently)
live in servers/variants.py, which loads no Tornado; this module only joins each of them to
the ``make_app`` that implements it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tornado import web

from servers import (
    backend,
    coroutine,
    fanout,
    gencoroutine,
    multiprocess,
    processpool,
    sync,
    threadpool,
)
from servers import variants as facts_of
from servers.config import ServerConfig
from servers.variants import AWAITS, VariantFacts

MakeApp = Callable[[ServerConfig], web.Application]


@dataclass(frozen=True)
class Variant:
    facts: VariantFacts
    make_app: MakeApp

    @property
    def name(self) -> str:
        return self.facts.name

    @property
    def summary(self) -> str:
        return self.facts.summary

    @property
    def forks(self) -> bool:
        return self.facts.forks

    @property
    def concurrent_fanout(self) -> bool:
        return self.facts.concurrent_fanout


_APPS: dict[str, MakeApp] = {
    "sync": sync.make_app,
    "coroutine": coroutine.make_app,
    "threadpool": threadpool.make_app,
    "fanout": fanout.make_app,
    "multiprocess": multiprocess.make_app,
    "gencoroutine": gencoroutine.make_app,
    "processpool": processpool.make_app,
}

# An application without facts fails here; facts without an application fail the registry test.
VARIANTS: dict[str, Variant] = {
    name: Variant(facts_of.VARIANTS[name], make_app) for name, make_app in _APPS.items()
}

# Not a strategy under test, so it has no entry in servers/variants.py.
BACKEND = Variant(
    VariantFacts("backend", "upstream: non-blocking /delay?ms=D", AWAITS), backend.make_app
)


def get_variant(name: str) -> Variant:
    if name == BACKEND.name:
        return BACKEND
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(
            f"unknown variant {name!r}; choose one of {', '.join(VARIANTS)} or backend"
        ) from None
