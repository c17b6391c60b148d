"""coroutine: ``async def`` handlers awaiting non-blocking calls one after another.
Waiting does not block the IOLoop, so many requests wait at once; CPU work still does."""

from __future__ import annotations

import asyncio
from typing import Any

from tornado import web

from servers.common import (
    BenchHandler,
    async_http_client,
    fetch_upstream,
    strategy_app,
)
from servers.config import ServerConfig
from servers.sync import CpuHandler


class SleepHandler(BenchHandler):
    async def get(self) -> None:
        ms = self.ms_param()
        await asyncio.sleep(ms / 1000.0)
        self.write_slept(ms)


class UpstreamHandler(BenchHandler):
    async def get(self) -> None:
        ms = self.ms_param()
        result = await fetch_upstream(async_http_client(), self.config.backend_url, ms, 0)
        self.write_upstream(ms, result)


class SequentialFanoutHandler(BenchHandler):
    async def get(self) -> None:
        n, ms, form = self.fanout_params()
        client = async_http_client()
        results: list[dict[str, Any]] = []
        for i in range(n):
            results.append(await fetch_upstream(client, self.config.backend_url, ms, i))
        self.write_fanout(n, ms, form, "sequential", results)


def make_app(config: ServerConfig) -> web.Application:
    return strategy_app(
        config,
        sleep=SleepHandler,
        cpu=CpuHandler,
        upstream=UpstreamHandler,
        fanout=SequentialFanoutHandler,
    )
