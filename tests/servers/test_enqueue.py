"""/enqueue on every variant: the answer comes before the work, the work is done in the
background (the backlog in /health says so), a full backlog is a 503, bad input a 400."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from catalog.limits import CPU_N_MAX, MS_MAX
from catalog.strategies import BLOCKS, VARIANTS
from harness.verify import verify
from tests.conftest import Server
from tests.servers.inprocess import AppUnderTest
from tests.servers.threaded import served, timed_get

ALL = sorted(VARIANTS)
# Strategies whose background jobs do not hold the thread that serves requests.
BACKGROUND = sorted(name for name, v in VARIANTS.items() if v.waits != BLOCKS)
BLOCKING = sorted(name for name, v in VARIANTS.items() if v.waits == BLOCKS)
JOB_MS = 1200  # long enough to be seen running, short enough for a pool to finish at teardown


def health(base: str) -> dict:
    return json.loads(timed_get(base, "/health").body)


def wait_for_background(base: str, completed: int, timeout_s: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        background = health(base)["background"]
        if background["completed"] >= completed or time.monotonic() > deadline:
            return background
        time.sleep(0.05)


@pytest.mark.parametrize("variant", ALL)
def test_enqueue_paths_pass_verification(variant: str) -> None:
    with served(variant) as base:
        assert verify(base, ["/enqueue?ms=5", "/enqueue?n=1000", "/enqueue?ms=0"]) == []
        background = wait_for_background(base, completed=3)
        assert background["completed"] == 3
        assert background["queued"] == background["in_progress"] == 0


@pytest.mark.parametrize("variant", ALL)
def test_answer_comes_before_the_work_and_the_work_is_done(variant: str) -> None:
    with served(variant) as base:
        answer = timed_get(base, f"/enqueue?ms={JOB_MS}")
        assert answer.status == 200
        body = json.loads(answer.body)
        assert body["accepted"] is True
        assert (body["work"], body["ms"]) == ("sleep", JOB_MS)
        # Answered well before the job could have ended, on every strategy (sync included:
        # it finishes the answer before it blocks on the job).
        assert answer.total_s < JOB_MS / 1000 / 2
        background = wait_for_background(base, completed=1)
        assert background["completed"] == 1 and background["failed"] == 0
        # The job did run for its time: it was not counted done at once.
        assert time.monotonic() - answer.sent >= JOB_MS / 1000 * 0.9


@pytest.mark.parametrize("variant", BACKGROUND)
def test_background_job_leaves_other_requests_served(variant: str) -> None:
    with served(variant) as base:
        assert timed_get(base, f"/enqueue?ms={JOB_MS}").status == 200
        hello = timed_get(base, "/hello")
        assert hello.status == 200 and hello.total_s < JOB_MS / 1000 / 2
        background = health(base)["background"]
        assert background["in_progress"] == 1 and background["completed"] == 0
        wait_for_background(base, completed=1)


@pytest.mark.parametrize("variant", BLOCKING)
def test_blocking_job_holds_the_server_after_answering(variant: str) -> None:
    """The blocking counterpart: the answer is out at once, then the job holds the IOLoop,
    so the next request waits for it and the backlog never holds more than that one job."""
    with served(variant, max_backlog=1) as base:
        answer = timed_get(base, f"/enqueue?ms={JOB_MS}")
        assert answer.status == 200 and answer.total_s < JOB_MS / 1000 / 2
        hello = timed_get(base, "/hello")
        assert hello.status == 200
        assert time.monotonic() - answer.sent >= JOB_MS / 1000 * 0.9
        # With a bound of one job, the next one is still accepted: the first is done.
        assert timed_get(base, "/enqueue?ms=1").status == 200
        background = wait_for_background(base, completed=2)
        assert background["completed"] == 2 and background["rejected"] == 0


@pytest.mark.parametrize("variant", BACKGROUND)
def test_full_backlog_is_a_503(serve: Callable[..., AppUnderTest], variant: str) -> None:
    srv = serve(variant, max_backlog=2, threads=1)
    for _ in range(2):
        status, _, body = srv.get(f"/enqueue?ms={JOB_MS}")
        assert status == 200, body
    status, headers, body = srv.get("/enqueue?ms=1")
    assert status == 503
    assert headers["Content-Type"].startswith("text/plain")
    assert body == b"503: background backlog full (2 jobs pending); retry later\n"
    status, _, body = srv.get("/health")
    background = json.loads(body)["background"]
    assert background["queued"] + background["in_progress"] == 2
    assert background["rejected"] == 1 and background["max_backlog"] == 2
    if variant == "threadpool":  # one pool thread: one job runs, the other waits for it
        assert (background["queued"], background["in_progress"]) == (1, 1)


def test_pool_jobs_and_requests_share_the_threads() -> None:
    """threadpool: with one thread busy on a job, an offloaded request waits for it."""
    with served("threadpool", threads=1) as base:
        answer = timed_get(base, f"/enqueue?ms={JOB_MS}")
        assert answer.status == 200
        slept = timed_get(base, "/sleep?ms=0")
        assert slept.status == 200
        assert time.monotonic() - answer.sent >= JOB_MS / 1000 * 0.9


@pytest.mark.parametrize("variant", BACKGROUND)
def test_many_jobs_wait_at_once(variant: str) -> None:
    """Eight 1.2 s jobs accepted together: the awaiting strategies (and a pool of eight
    threads or worker processes) run them side by side, so they are all done in about one
    job's time."""
    with served(variant, threads=8, pool_processes=8) as base:
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: timed_get(base, f"/enqueue?ms={JOB_MS}"), range(8)))
        assert all(a.status == 200 for a in answers)
        background = wait_for_background(base, completed=8)
        assert background["completed"] == 8
        assert time.monotonic() - started < JOB_MS / 1000 * 3


BAD_INPUT = [
    "/enqueue",
    "/enqueue?ms=5&n=5",
    "/enqueue?ms=",
    "/enqueue?ms=-1",
    "/enqueue?ms=1.5",
    f"/enqueue?ms={MS_MAX + 1}",
    "/enqueue?n=0",
    f"/enqueue?n={CPU_N_MAX + 1}",
    "/enqueue?x=1",
    "/enqueue?ms=5&x=1",
    "/enqueue?ms=%3Cscript%3E",
]


@pytest.mark.parametrize("variant", ALL)
def test_bad_input_is_a_short_400(serve: Callable[..., AppUnderTest], variant: str) -> None:
    srv = serve(variant)
    for path in BAD_INPUT:
        started = time.monotonic()
        status, headers, body = srv.get(path)
        assert status == 400, (path, body)
        assert headers["Content-Type"].startswith("text/plain")
        assert len(body) < 120 and b"Traceback" not in body and b"script" not in body
        assert time.monotonic() - started < 1.0
    background = json.loads(srv.get("/health")[2])["background"]
    assert background == {
        "queued": 0,
        "in_progress": 0,
        "completed": 0,
        "failed": 0,
        "rejected": 0,
        "max_backlog": 10_000,
    }


def test_max_backlog_is_bounded() -> None:
    from catalog.server_config import ServerConfig

    with pytest.raises(ValueError, match="max-backlog"):
        ServerConfig(variant="coroutine", max_backlog=0)


def test_forked_server_passes_verification(server_factory: Callable[..., Server]) -> None:
    """multiprocess as it really runs (two forked processes): each keeps its own backlog."""
    server = server_factory("multiprocess", processes=2)
    paths = ["/enqueue?ms=5", "/enqueue?n=1000", "/stream?chunks=3&bytes=500&ms=5"]
    assert verify(server.base, paths) == []
    background = health(server.base)["background"]
    assert background["max_backlog"] == 10_000 and background["rejected"] == 0
