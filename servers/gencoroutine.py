"""gencoroutine: the older decorator style, ``@gen.coroutine`` with ``yield``. Waits do not
block the IOLoop, and /fanout yields a list (``form=list``) or a dict (``form=dict``) of
futures so the calls run together. Lets a suite measure what native ``async def`` buys."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from tornado import gen
from tornado.ioloop import IOLoop
from tornado.iostream import StreamClosedError

from catalog.payloads import cpu_work
from servers.handlers import (
    BenchHandler,
    Handlers,
    InlineCpuHandler,
    async_http_client,
    fetch_request,
    upstream_error,
)
from servers.upstream import UpstreamError, parse_backend_body
from servers.work import Backlog, Job


@gen.coroutine
def fetch_upstream(backend_url: str | None, ms: int, call_id: int) -> Generator[Any, Any, Any]:
    try:
        response = yield async_http_client().fetch(fetch_request(backend_url, ms, call_id))
    except Exception as exc:
        raise upstream_error(exc) from exc
    return parse_backend_body(response.body)


class SleepHandler(BenchHandler):
    @gen.coroutine
    def get(self) -> Generator[Any, Any, None]:
        ms = self.ms_param()
        yield gen.sleep(ms / 1000.0)
        self.write_slept(ms)


class UpstreamHandler(BenchHandler):
    @gen.coroutine
    def get(self) -> Generator[Any, Any, None]:
        ms = self.ms_param()
        result = yield fetch_upstream(self.config.backend_url, ms, 0)
        self.write_upstream(ms, result)


class FanoutHandler(BenchHandler):
    @gen.coroutine
    def get(self) -> Generator[Any, Any, None]:
        n, ms, form = self.fanout_params()
        url = self.config.backend_url
        # Yielding a bare list or dict is gen.multi without quiet_exceptions: every failed
        # call after the first would be logged with its traceback.
        if form == "dict":
            calls = {f"call{i}": fetch_upstream(url, ms, i) for i in range(n)}
            by_key = yield gen.multi(calls, quiet_exceptions=UpstreamError)
            results = [by_key[f"call{i}"] for i in range(n)]
        else:
            calls_list = [fetch_upstream(url, ms, i) for i in range(n)]
            results = yield gen.multi(calls_list, quiet_exceptions=UpstreamError)
        self.write_fanout(n, ms, form, "concurrent", results)


@gen.coroutine
def run_job(backlog: Backlog, job: Job) -> Generator[Any, Any, None]:
    """A background job as a generator coroutine on the IOLoop: a wait is yielded; CPU work
    holds the IOLoop, as /cpu does."""
    backlog.start(job)
    ok = False
    try:
        if job.ms is not None:
            yield gen.sleep(job.ms / 1000.0)
        else:
            assert job.n is not None
            cpu_work(job.n)
        ok = True
    finally:
        backlog.done(job, ok)


class EnqueueHandler(BenchHandler):
    """Answers at once; spawn_callback starts the job on the IOLoop after the answer."""

    @gen.coroutine
    def get(self) -> None:
        job = self.admit_job()
        IOLoop.current().spawn_callback(run_job, self.backlog, job)
        self.write_accepted(job)


class StreamHandler(BenchHandler):
    """Each chunk is written and its ``flush`` yielded; the gap is yielded to the IOLoop."""

    @gen.coroutine
    def get(self) -> Generator[Any, Any, None]:
        chunks, size, ms = self.stream_params()
        try:
            for i in range(chunks):
                if i:
                    yield gen.sleep(ms / 1000.0)
                self.write_chunk(i, size)
                yield self.flush()
        except StreamClosedError:
            return  # the client left in the middle: nothing left to do


HANDLERS = Handlers(
    sleep=SleepHandler,
    cpu=InlineCpuHandler,
    upstream=UpstreamHandler,
    fanout=FanoutHandler,
    enqueue=EnqueueHandler,
    stream=StreamHandler,
)
