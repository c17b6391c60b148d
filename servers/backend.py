"""The upstream backend: a small non-blocking server whose /delay?ms=D answers after D ms."""

from __future__ import annotations

import asyncio
import os

from tornado import web

from catalog.server_config import ServerConfig
from servers.handlers import BenchHandler, HealthHandler, make_application


class DelayHandler(BenchHandler):
    async def get(self) -> None:
        ms = self.ms_param()
        call_id = self.int_param("id", 0, 1_000_000, default=0)
        await asyncio.sleep(ms / 1000.0)
        self.write_json({"id": call_id, "ms": ms, "pid": os.getpid()})


def make_app(config: ServerConfig) -> web.Application:
    kw = {"config": config}
    return make_application([(r"/health", HealthHandler, kw), (r"/delay", DelayHandler, kw)])
