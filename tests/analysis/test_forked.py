"""Work shared out between forked processes (analysis/forked.py), as the report reads its cells:
results in the items' order, done in other processes, what a call raised raised in the
report process, and nothing left running when the report fails meanwhile."""

from __future__ import annotations

import os
import time

import psutil
import pytest

from analysis.forked import Shared, in_processes

TWO_CORES = (os.cpu_count() or 1) >= 2


def test_results_come_in_the_items_order_from_other_processes() -> None:
    items = list(range(300))  # several chunks per worker
    out = in_processes(lambda i: (i * i, os.getpid()), items)
    assert [square for square, _ in out] == [i * i for i in items]
    pids = {pid for _, pid in out}
    if TWO_CORES:  # on a busy machine one worker may take every chunk before the other starts
        assert os.getpid() not in pids and 1 <= len(pids) <= 2


def test_the_items_reach_the_workers_unpickled() -> None:
    # A lambda in the items cannot be pickled: forked workers inherit the items as they are.
    items = [lambda: 1, lambda: 2, lambda: 3]
    assert in_processes(lambda f: f(), items) == [1, 2, 3]


def _fail(i: int) -> int:
    if i == 7:
        raise OSError(28, "No space left on device")
    return i


def test_what_a_call_raised_is_raised_by_results() -> None:
    with pytest.raises(OSError) as raised:
        in_processes(_fail, list(range(20)))
    assert raised.value.errno == 28 and "No space left" in str(raised.value)


@pytest.mark.skipif(not TWO_CORES, reason="with one core the work runs in results()")
def test_a_failing_report_stops_the_workers_at_once() -> None:
    started = time.monotonic()
    shared = Shared(time.sleep, [60.0] * 4)
    table = shared.pool._processes if shared.pool is not None else None  # the executor's own
    workers = [psutil.Process(p.pid) for p in (table or {}).values()]
    with pytest.raises(RuntimeError, match="the report failed"), shared:
        raise RuntimeError("the report failed")
    gone, alive = psutil.wait_procs(workers, timeout=30)
    assert not alive and len(gone) == 2
    assert time.monotonic() - started < 30  # not the minute each call would have slept


def test_one_item_runs_here() -> None:
    assert in_processes(lambda _: os.getpid(), ["only"]) == [os.getpid()]
