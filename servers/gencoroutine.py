"""gencoroutine: the older decorator style, ``@gen.coroutine`` with ``yield``. Waits do not
block the IOLoop, and /fanout yields a list (``form=list``) or a dict (``form=dict``) of
futures so the calls run together. Lets a suite measure what native ``async def`` buys."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from tornado import gen, web

from servers.common import (
    BenchHandler,
    async_http_client,
    fetch_request,
    strategy_app,
    upstream_error,
)
from servers.config import ServerConfig
from servers.sync import CpuHandler
from servers.work import UpstreamError, parse_backend_body


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


def make_app(config: ServerConfig) -> web.Application:
    return strategy_app(
        config, sleep=SleepHandler, cpu=CpuHandler, upstream=UpstreamHandler, fanout=FanoutHandler
    )
