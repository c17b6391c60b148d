"""processpool: CPU work and blocking calls offloaded with ``IOLoop.run_in_executor`` to a
``concurrent.futures.ProcessPoolExecutor`` of ``--pool-processes`` worker processes; the
handler awaits the future. Each worker has its own interpreter and GIL, so pure-Python /cpu
work runs on as many cores as there are workers, which a thread pool cannot do. The price
is a round trip per request: the call and its result are pickled and cross a pipe both ways
(``/cpu?n=1`` is almost nothing but that cost).

The workers (servers/poolwork.py) are spawned and warm before the server answers anything,
die with the server (their lifeline, and SIGTERM to the process group reaches them), and
are children of the server, so the sampler counts their CPU and memory with it. The event
loop itself stays in the one server process: HTTP parsing and answers are not parallel.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from tornado import web
from tornado.ioloop import IOLoop
from tornado.iostream import StreamClosedError

from catalog.server_config import ServerConfig
from servers import poolwork
from servers.handlers import BenchHandler, Handlers

# The header naming the worker process that did a request's work (the pid in the body, as
# on every strategy, is the process that served the request).
WORKER_PID_HEADER = "X-Worker-Pid"


class PoolHandler(BenchHandler):
    # Each route's handler takes the kwargs its route gives (Tornado's initialize pattern).
    def initialize(  # type: ignore[override]
        self, config: ServerConfig, executor: ProcessPoolExecutor, **_: Any
    ) -> None:
        super().initialize(config)
        self.executor = executor

    async def offload(self, fn: Any, *args: Any) -> Any:
        return await IOLoop.current().run_in_executor(self.executor, fn, *args)


class SleepHandler(PoolHandler):
    async def get(self) -> None:
        ms = self.ms_param()
        self.set_header(WORKER_PID_HEADER, str(await self.offload(poolwork.sleep, ms)))
        self.write_slept(ms)


class CpuHandler(PoolHandler):
    async def get(self) -> None:
        n = self.cpu_n_param()
        result, pid = await self.offload(poolwork.cpu, n)
        self.set_header(WORKER_PID_HEADER, str(pid))
        self.write_json({"n": n, "result": result})


class UpstreamHandler(PoolHandler):
    async def get(self) -> None:
        ms = self.ms_param()
        self.write_upstream(ms, await self.offload(poolwork.upstream, ms, 0))


class FanoutHandler(PoolHandler):
    async def get(self) -> None:
        n, ms, form = self.fanout_params()
        # One job for the whole sequential fan-out: it holds one worker for n*ms.
        results = await self.offload(poolwork.fanout, n, ms)
        self.write_fanout(n, ms, form, "sequential", results)


class EnqueueHandler(PoolHandler):
    """Answers at once; the job goes to the pool like every offloaded call and its end comes
    back to the IOLoop thread. A process pool does not say when a queued job starts, so a
    submitted job counts as in progress from the moment it is handed over."""

    def get(self) -> None:
        job = self.admit_job()
        loop = IOLoop.current()
        backlog = self.backlog
        try:
            future = self.executor.submit(poolwork.job, job.ms, job.n)
        except RuntimeError:  # the pool is shut down (or broken): the server is stopping
            backlog.withdraw(job)
            raise web.HTTPError(503, "server is stopping") from None
        backlog.start(job)
        future.add_done_callback(
            lambda f: loop.add_callback(
                backlog.done, job, not f.cancelled() and f.exception() is None
            )
        )
        self.write_accepted(job)


class StreamHandler(PoolHandler):
    """Chunks are written and flushed on the IOLoop; each gap between them is a blocking
    sleep in a worker, so a stream holds a worker while it waits."""

    async def get(self) -> None:
        chunks, size, ms = self.stream_params()
        try:
            for i in range(chunks):
                if i:
                    await self.offload(poolwork.sleep, ms)
                self.write_chunk(i, size)
                await self.flush()
        except StreamClosedError:
            return  # the client left in the middle: nothing left to do


def pool_size(config: ServerConfig) -> int:
    """--pool-processes, or one worker per core this server may run on (0)."""
    return config.pool_processes or len(os.sched_getaffinity(0))


def start_pool(config: ServerConfig) -> ProcessPoolExecutor:
    """The pool, every worker already running: one warm-up job per worker, each worker held
    at a barrier until all have started, so no request pays for a spawn."""
    size = pool_size(config)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(size)
    executor = ProcessPoolExecutor(
        max_workers=size,
        mp_context=context,
        initializer=poolwork.start_worker,
        initargs=(os.getpid(), barrier, config.backend_url, config.db_url),
    )
    warm = [executor.submit(poolwork.ready) for _ in range(size)]
    for future in warm:
        future.result(timeout=poolwork.WARM_TIMEOUT_S)
    return executor


HANDLERS = Handlers(
    sleep=SleepHandler,
    cpu=CpuHandler,
    upstream=UpstreamHandler,
    fanout=FanoutHandler,
    enqueue=EnqueueHandler,
    stream=StreamHandler,
)


def resources(config: ServerConfig) -> dict[str, Any]:
    """The pool of worker processes, warm before the server answers anything."""
    return {"executor": start_pool(config)}
