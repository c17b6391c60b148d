"""sync: plain ``def get`` handlers. Every wait blocks the IOLoop, so requests are served one
at a time; this is the baseline the other strategies are measured against."""

from __future__ import annotations

from typing import Any

from tornado import web

from servers.common import BenchHandler, strategy_app
from servers.config import ServerConfig
from servers.work import BlockingUpstream, blocking_sleep, cpu_work


class SleepHandler(BenchHandler):
    def get(self) -> None:
        ms = self.ms_param()
        blocking_sleep(ms)
        self.write_slept(ms)


class CpuHandler(BenchHandler):
    def get(self) -> None:
        n = self.cpu_n_param()
        self.write_json({"n": n, "result": cpu_work(n)})


class UpstreamHandler(BenchHandler):
    def initialize(self, config: ServerConfig, upstream_client: BlockingUpstream, **_: Any) -> None:
        super().initialize(config)
        self.upstream = upstream_client

    def get(self) -> None:
        ms = self.ms_param()
        self.write_upstream(ms, self.upstream.call(ms, 0))


class FanoutHandler(UpstreamHandler):
    def get(self) -> None:
        n, ms, form = self.fanout_params()
        self.write_fanout(n, ms, form, "sequential", self.upstream.fanout(n, ms))


def make_app(config: ServerConfig) -> web.Application:
    return strategy_app(
        config,
        sleep=SleepHandler,
        cpu=CpuHandler,
        upstream=UpstreamHandler,
        fanout=FanoutHandler,
        upstream_client=BlockingUpstream(config.backend_url),
    )
