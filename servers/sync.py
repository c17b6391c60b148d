"""sync: plain ``def get`` handlers. Every wait blocks the IOLoop, so requests are served one
at a time; this is the baseline the other strategies are measured against."""

from __future__ import annotations

from typing import Any

from catalog.server_config import ServerConfig
from servers.handlers import BenchHandler, Handlers, InlineCpuHandler
from servers.upstream import BlockingUpstream
from servers.work import blocking_sleep


class SleepHandler(BenchHandler):
    def get(self) -> None:
        ms = self.ms_param()
        blocking_sleep(ms)
        self.write_slept(ms)


class EnqueueHandler(BenchHandler):
    """The blocking counterpart of respond-now-work-later. The answer is finished first (its
    bytes go to the socket at once), then the job runs inline in this same handler and
    blocks the IOLoop until it is done: the client does not wait for the work, but no other
    request is served meanwhile. So the backlog is never more than the one job in progress;
    the requests behind it wait in the kernel's accept queue and socket buffers instead."""

    def get(self) -> None:
        job = self.admit_job()
        self.write_accepted(job)
        self.backlog.start(job)
        ok = False
        try:
            job.run_blocking()
            ok = True
        finally:
            self.backlog.done(job, ok)


class StreamHandler(BenchHandler):
    """Each chunk is written and flushed (the socket takes what fits at once), and the gap
    between chunks is a blocking sleep: one stream holds the IOLoop from its first chunk to
    its last, so a second stream's first byte waits for the whole first stream."""

    def get(self) -> None:
        chunks, size, ms = self.stream_params()
        for i in range(chunks):
            if i:
                blocking_sleep(ms)
            if self.client_gone():
                return
            self.write_chunk(i, size)
            self.flush()


class UpstreamHandler(BenchHandler):
    # Each route's handler takes the kwargs its route gives (Tornado's initialize pattern).
    def initialize(  # type: ignore[override]
        self, config: ServerConfig, upstream_client: BlockingUpstream, **_: Any
    ) -> None:
        super().initialize(config)
        self.upstream = upstream_client

    def get(self) -> None:
        ms = self.ms_param()
        self.write_upstream(ms, self.upstream.call(ms, 0))


class FanoutHandler(UpstreamHandler):
    def get(self) -> None:
        n, ms, form = self.fanout_params()
        self.write_fanout(n, ms, form, "sequential", self.upstream.fanout(n, ms))


HANDLERS = Handlers(
    sleep=SleepHandler,
    cpu=InlineCpuHandler,
    upstream=UpstreamHandler,
    fanout=FanoutHandler,
    enqueue=EnqueueHandler,
    stream=StreamHandler,
)


def resources(config: ServerConfig) -> dict[str, Any]:
    """A kept-alive connection to the backend, one per thread (the IOLoop's, here)."""
    return {"upstream_client": BlockingUpstream(config.backend_url)}
