"""The variant names and the module that builds each one's application."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tornado import web

from servers import backend, coroutine, fanout, gencoroutine, multiprocess, sync, threadpool
from servers.config import ServerConfig


@dataclass(frozen=True)
class Variant:
    name: str
    summary: str
    make_app: Callable[[ServerConfig], web.Application]
    forks: bool = False  # runs several processes sharing one socket
    concurrent_fanout: bool = False  # /fanout awaits its calls together


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("sync", "plain def handlers; every wait blocks the IOLoop", sync.make_app),
        Variant(
            "coroutine",
            "async def handlers awaiting non-blocking calls one after another",
            coroutine.make_app,
        ),
        Variant(
            "threadpool",
            "blocking calls offloaded to a bounded ThreadPoolExecutor (--threads)",
            threadpool.make_app,
        ),
        Variant(
            "fanout",
            "async def; independent upstream calls awaited together (list/dict)",
            fanout.make_app,
            concurrent_fanout=True,
        ),
        Variant(
            "multiprocess",
            "sync handlers in N forked processes sharing one socket (--processes)",
            multiprocess.make_app,
            forks=True,
        ),
        Variant(
            "gencoroutine",
            "@gen.coroutine with yield; fan-out by yielding a list/dict",
            gencoroutine.make_app,
            concurrent_fanout=True,
        ),
    )
}

BACKEND = Variant("backend", "upstream: non-blocking /delay?ms=D", backend.make_app)


def get_variant(name: str) -> Variant:
    if name == BACKEND.name:
        return BACKEND
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(
            f"unknown variant {name!r}; choose one of {', '.join(VARIANTS)} or backend"
        ) from None
