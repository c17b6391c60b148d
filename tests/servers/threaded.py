"""A variant served from a thread of its own (so a blocking handler blocks only that thread's
loop), and a blocking client that times the first body byte and the whole answer."""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tornado import web

from catalog.server_config import ServerConfig
from servers.handlers import release
from servers.registry import make_app
from tests.servers.inprocess import ServerThread


@contextmanager
def served(variant: str, **config: Any) -> Iterator[str]:
    """Serve one variant on its own thread; its base URL. The pool and the kept-alive
    connections are released afterwards."""
    apps: list[web.Application] = []

    def build() -> web.Application:
        app = make_app(ServerConfig(variant=variant, **config))
        apps.append(app)
        return app

    try:
        with ServerThread(build) as srv:
            yield srv.base
    finally:
        for app in apps:
            release(app, wait=True)


@dataclass(frozen=True)
class Timed:
    status: int
    content_type: str
    body: bytes
    sent: float  # time.monotonic() when the request was sent
    ttfb_s: float  # from sending to the first body byte
    total_s: float  # from sending to the last body byte


def timed_get(base: str, path: str, timeout: float = 15.0) -> Timed:
    """GET on a fresh connection, timing the first body byte and the end of the body."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        sent = time.monotonic()
        conn.request("GET", path)
        resp = conn.getresponse()
        first = resp.read(1)
        first_at = time.monotonic()
        rest = resp.read()
        done_at = time.monotonic()
        return Timed(
            resp.status,
            resp.getheader("Content-Type", ""),
            first + rest,
            sent,
            first_at - sent,
            done_at - sent,
        )
    finally:
        conn.close()
