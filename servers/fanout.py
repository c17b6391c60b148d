"""fanout: like coroutine, but independent upstream calls are awaited together, so a request
that needs N calls of D ms waits about D, not N*D. Both Tornado forms are served:
a list of awaitables (``form=list``) and a dict of them (``form=dict``). Every other endpoint
is coroutine's (servers/registry.py)."""

from __future__ import annotations

from tornado import gen

from servers.handlers import BenchHandler, async_http_client, fetch_upstream
from servers.upstream import UpstreamError


class ConcurrentFanoutHandler(BenchHandler):
    async def get(self) -> None:
        n, ms, form = self.fanout_params()
        client = async_http_client()
        url = self.config.backend_url
        if form == "dict":
            by_key = await gen.multi(
                {f"call{i}": fetch_upstream(client, url, ms, i) for i in range(n)},
                quiet_exceptions=UpstreamError,
            )
            results = [by_key[f"call{i}"] for i in range(n)]
        else:
            results = await gen.multi(
                [fetch_upstream(client, url, ms, i) for i in range(n)],
                quiet_exceptions=UpstreamError,
            )
        self.write_fanout(n, ms, form, "concurrent", results)
