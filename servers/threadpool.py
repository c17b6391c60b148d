"""threadpool: blocking calls offloaded with ``IOLoop.run_in_executor`` to a bounded
ThreadPoolExecutor. The IOLoop stays free; at most ``--threads`` blocking waits run at once.
Pure-Python CPU work is offloaded too, but the GIL keeps it to one core."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tornado import web
from tornado.ioloop import IOLoop

from servers.common import BenchHandler, strategy_app
from servers.config import ServerConfig
from servers.work import BlockingUpstream, blocking_sleep, cpu_work


class OffloadHandler(BenchHandler):
    def initialize(
        self,
        config: ServerConfig,
        executor: ThreadPoolExecutor,
        upstream_client: BlockingUpstream,
        **_: Any,
    ) -> None:
        super().initialize(config)
        self.executor = executor
        self.upstream = upstream_client

    async def offload(self, fn: Any, *args: Any) -> Any:
        return await IOLoop.current().run_in_executor(self.executor, fn, *args)


class SleepHandler(OffloadHandler):
    async def get(self) -> None:
        ms = self.ms_param()
        await self.offload(blocking_sleep, ms)
        self.write_slept(ms)


class CpuHandler(OffloadHandler):
    async def get(self) -> None:
        n = self.cpu_n_param()
        self.write_json({"n": n, "result": await self.offload(cpu_work, n)})


class UpstreamHandler(OffloadHandler):
    async def get(self) -> None:
        ms = self.ms_param()
        self.write_upstream(ms, await self.offload(self.upstream.call, ms, 0))


class FanoutHandler(OffloadHandler):
    async def get(self) -> None:
        n, ms, form = self.fanout_params()
        # The whole sequential fan-out is one blocking job: it holds one thread for n*ms.
        results = await self.offload(self.upstream.fanout, n, ms)
        self.write_fanout(n, ms, form, "sequential", results)


def make_app(config: ServerConfig) -> web.Application:
    return strategy_app(
        config,
        sleep=SleepHandler,
        cpu=CpuHandler,
        upstream=UpstreamHandler,
        fanout=FanoutHandler,
        executor=ThreadPoolExecutor(max_workers=config.threads, thread_name_prefix="bench"),
        upstream_client=BlockingUpstream(config.backend_url),
    )
