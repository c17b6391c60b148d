"""The strategies really behave differently (generous margins: this is timing, not speed).

Served in this process: concurrent requests come from the test's own IOLoop, which is the
loop a blocking handler blocks, just as it blocks a server's. Variants are grouped by their
facts, so a new variant lands in a group and is timed without naming it here."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from catalog.strategies import AWAITS, BLOCKS, POOL, VARIANTS
from harness.processes.procs import http_get
from tests.conftest import Server
from tests.servers.inprocess import AppUnderTest

BLOCKING = sorted(n for n, v in VARIANTS.items() if v.waits == BLOCKS)
POOLED = sorted(n for n, v in VARIANTS.items() if v.waits == POOL)
AWAITING = sorted(n for n, v in VARIANTS.items() if v.waits == AWAITS)
CONCURRENT_FANOUT = sorted(n for n, v in VARIANTS.items() if v.concurrent_fanout)
SEQUENTIAL_FANOUT = sorted(n for n, v in VARIANTS.items() if not v.concurrent_fanout)
FORKING = sorted(n for n, v in VARIANTS.items() if v.forks)


def concurrent_gets(server: AppUnderTest, path: str, n: int) -> tuple[float, list[dict]]:
    """n simultaneous GETs, each on its own connection; returns wall time and bodies."""
    elapsed, responses = server.gather(path, n)
    for response in responses:
        assert response.code == 200, response.body
    return elapsed, [json.loads(r.body) for r in responses]


def test_every_variant_is_timed() -> None:
    assert sorted(BLOCKING + POOLED + AWAITING) == sorted(VARIANTS)
    assert sorted(CONCURRENT_FANOUT + SEQUENTIAL_FANOUT) == sorted(VARIANTS)


@pytest.mark.parametrize("variant", BLOCKING)
def test_blocking_process_serialises_sleeps(
    serve: Callable[..., AppUnderTest], variant: str
) -> None:
    elapsed, _ = concurrent_gets(serve(variant), "/sleep?ms=200", 8)
    assert elapsed >= 1.4


@pytest.mark.parametrize("variant", AWAITING)
def test_awaiting_variants_overlap_sleeps(serve: Callable[..., AppUnderTest], variant: str) -> None:
    elapsed, _ = concurrent_gets(serve(variant), "/sleep?ms=200", 8)
    assert elapsed < 0.6, variant


@pytest.mark.parametrize("variant", POOLED)
def test_threadpool_runs_as_many_sleeps_as_threads(
    serve: Callable[..., AppUnderTest], variant: str
) -> None:
    # A pool of four: threads, or worker processes for a process pool.
    srv = serve(variant, threads=4, pool_processes=4)
    elapsed, _ = concurrent_gets(srv, "/sleep?ms=200", 8)
    assert 0.38 <= elapsed < 0.75  # two rounds of four


@pytest.mark.parametrize("form", ["list", "dict"])
@pytest.mark.parametrize("variant", CONCURRENT_FANOUT)
def test_fanout_awaits_calls_together(
    serve: Callable[..., AppUnderTest], thread_backend: str, variant: str, form: str
) -> None:
    srv = serve(variant, backend_url=thread_backend)
    elapsed, bodies = concurrent_gets(srv, f"/fanout?n=4&ms=100&form={form}", 1)
    assert elapsed < 0.3, (variant, form)
    assert bodies[0]["ids"] == [0, 1, 2, 3]


@pytest.mark.parametrize("variant", SEQUENTIAL_FANOUT)
def test_sequential_fanout_waits_for_each_call(
    serve: Callable[..., AppUnderTest], thread_backend: str, variant: str
) -> None:
    srv = serve(variant, backend_url=thread_backend)
    elapsed, bodies = concurrent_gets(srv, "/fanout?n=4&ms=100", 1)
    assert elapsed >= 0.4
    assert bodies[0]["ids"] == [0, 1, 2, 3]


@pytest.mark.parametrize("variant", FORKING)
def test_forking_variant_answers_from_two_pids(
    server_factory: Callable[..., Server], variant: str
) -> None:
    """A real process: the forked workers are the point."""
    srv = server_factory(variant, processes=2)

    def one(_: int) -> dict:
        status, _, body = http_get(srv.base + "/sleep?ms=200", timeout=30)
        assert status == 200, body
        return json.loads(body)

    # The split between processes is uneven (one may accept several connections at once, and
    # on a busy machine the second may reach its accept loop after the first answered
    # /health), so only the fact that both serve is asserted, within rounds of 8 requests.
    pids: set[int] = set()
    deadline = time.monotonic() + 20
    with ThreadPoolExecutor(max_workers=8) as pool:
        while len(pids) < 2 and time.monotonic() < deadline:
            pids |= {b["pid"] for b in pool.map(one, range(8))}
    assert len(pids) == 2
