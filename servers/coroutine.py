"""coroutine: ``async def`` handlers awaiting non-blocking calls one after another.
Waiting does not block the IOLoop, so many requests wait at once; CPU work still does."""

from __future__ import annotations

import asyncio
from typing import Any

from tornado.ioloop import IOLoop
from tornado.iostream import StreamClosedError

from catalog.payloads import cpu_work
from servers.handlers import (
    BenchHandler,
    Handlers,
    InlineCpuHandler,
    async_http_client,
    fetch_upstream,
)
from servers.work import Backlog, Job


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


async def run_job(backlog: Backlog, job: Job) -> None:
    """A background job as its own coroutine on the IOLoop: a wait is awaited (many jobs
    wait at once); CPU work runs on the IOLoop and holds it, as /cpu does."""
    backlog.start(job)
    ok = False
    try:
        if job.ms is not None:
            await asyncio.sleep(job.ms / 1000.0)
        else:
            assert job.n is not None
            cpu_work(job.n)
        ok = True
    finally:
        backlog.done(job, ok)


class EnqueueHandler(BenchHandler):
    """Answers at once; the job is handed to the IOLoop with spawn_callback and runs after
    the answer, beside every other request and job."""

    async def get(self) -> None:
        job = self.admit_job()
        IOLoop.current().spawn_callback(run_job, self.backlog, job)
        self.write_accepted(job)


class StreamHandler(BenchHandler):
    """Each chunk is written and awaited with ``flush`` (so a slow reader slows the writer,
    not the server's memory), and the gap is awaited: other requests run in between."""

    async def get(self) -> None:
        chunks, size, ms = self.stream_params()
        try:
            for i in range(chunks):
                if i:
                    await asyncio.sleep(ms / 1000.0)
                self.write_chunk(i, size)
                await self.flush()
        except StreamClosedError:
            return  # the client left in the middle: nothing left to do


HANDLERS = Handlers(
    sleep=SleepHandler,
    cpu=InlineCpuHandler,
    upstream=UpstreamHandler,
    fanout=SequentialFanoutHandler,
    enqueue=EnqueueHandler,
    stream=StreamHandler,
)
