"""The strategies really behave differently (generous margins: this is timing, not speed)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

from harness.procs import http_get
from tests.conftest import Server


def concurrent_gets(server: Server, path: str, n: int) -> tuple[float, list[dict]]:
    """n simultaneous GETs, each on its own connection; returns wall time and bodies."""

    def one(_: int) -> dict:
        status, _, body = http_get(server.base + path, timeout=30)
        assert status == 200, body
        return json.loads(body)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=n) as pool:
        bodies = list(pool.map(one, range(n)))
    return time.monotonic() - started, bodies


def test_sync_serialises_sleeps(server_factory) -> None:  # type: ignore[no-untyped-def]
    elapsed, _ = concurrent_gets(server_factory("sync"), "/sleep?ms=200", 8)
    assert elapsed >= 1.4


def test_coroutine_and_fanout_overlap_sleeps(server_factory) -> None:  # type: ignore[no-untyped-def]
    for variant in ("coroutine", "fanout", "gencoroutine"):
        elapsed, _ = concurrent_gets(server_factory(variant), "/sleep?ms=200", 8)
        assert elapsed < 0.6, variant


def test_threadpool_runs_as_many_sleeps_as_threads(server_factory) -> None:  # type: ignore[no-untyped-def]
    elapsed, _ = concurrent_gets(server_factory("threadpool", threads=4), "/sleep?ms=200", 8)
    assert 0.38 <= elapsed < 0.75  # two rounds of four


def test_fanout_awaits_calls_together(server_factory, backend: Server) -> None:  # type: ignore[no-untyped-def]
    for form in ("list", "dict"):
        for variant in ("fanout", "gencoroutine"):
            srv = server_factory(variant, backend_url=backend.base)
            elapsed, bodies = concurrent_gets(srv, f"/fanout?n=4&ms=100&form={form}", 1)
            assert elapsed < 0.3, (variant, form)
            assert bodies[0]["ids"] == [0, 1, 2, 3]


def test_coroutine_fanout_is_sequential(server_factory, backend: Server) -> None:  # type: ignore[no-untyped-def]
    srv = server_factory("coroutine", backend_url=backend.base)
    elapsed, _ = concurrent_gets(srv, "/fanout?n=4&ms=100", 1)
    assert elapsed >= 0.4


def test_multiprocess_answers_from_two_pids(server_factory) -> None:  # type: ignore[no-untyped-def]
    srv = server_factory("multiprocess", processes=2)
    # The split between processes is uneven (one may accept several connections at once),
    # so only the fact that both serve is asserted, not the timing.
    _, bodies = concurrent_gets(srv, "/sleep?ms=200", 8)
    assert len({b["pid"] for b in bodies}) == 2
