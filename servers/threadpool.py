"""threadpool: blocking calls offloaded with ``IOLoop.run_in_executor`` to a bounded
ThreadPoolExecutor. The IOLoop stays free; at most ``--threads`` blocking waits run at once.
Pure-Python CPU work is offloaded too, but the GIL keeps it to one core."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tornado import web
from tornado.ioloop import IOLoop
from tornado.iostream import StreamClosedError

from catalog.payloads import cpu_work
from catalog.server_config import ServerConfig
from servers.handlers import BenchHandler, Handlers
from servers.upstream import BlockingUpstream
from servers.work import blocking_sleep


class OffloadHandler(BenchHandler):
    # Each route's handler takes the kwargs its route gives (Tornado's initialize pattern).
    def initialize(  # type: ignore[override]
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


class EnqueueHandler(OffloadHandler):
    """Answers at once; the job goes to the same executor as every offloaded call. It is
    queued until a pool thread is free, runs there, and hands its end back to the IOLoop
    thread with ``IOLoop.add_callback`` (nothing but the IOLoop thread touches a request).
    Background jobs and requests share the ``--threads`` threads."""

    def get(self) -> None:
        job = self.admit_job()
        loop = IOLoop.current()
        backlog = self.backlog

        def work() -> None:
            backlog.start(job)
            ok = False
            try:
                job.run_blocking()
                ok = True
            finally:
                loop.add_callback(backlog.done, job, ok)

        try:
            self.executor.submit(work)
        except RuntimeError:  # the pool is shut down: the server is stopping
            backlog.withdraw(job)
            raise web.HTTPError(503, "server is stopping") from None
        self.write_accepted(job)


class StreamHandler(OffloadHandler):
    """Chunks are written and flushed on the IOLoop thread; each gap between them is a
    blocking sleep in the pool, so a stream holds a pool thread while it waits."""

    async def get(self) -> None:
        chunks, size, ms = self.stream_params()
        try:
            for i in range(chunks):
                if i:
                    await self.offload(blocking_sleep, ms)
                self.write_chunk(i, size)
                await self.flush()
        except StreamClosedError:
            return  # the client left in the middle: nothing left to do


HANDLERS = Handlers(
    sleep=SleepHandler,
    cpu=CpuHandler,
    upstream=UpstreamHandler,
    fanout=FanoutHandler,
    enqueue=EnqueueHandler,
    stream=StreamHandler,
)


def resources(config: ServerConfig) -> dict[str, Any]:
    """The pool every blocking call goes to, and a kept-alive backend connection per thread."""
    return {
        "executor": ThreadPoolExecutor(max_workers=config.threads, thread_name_prefix="bench"),
        "upstream_client": BlockingUpstream(config.backend_url),
    }
