"""Per-message bookkeeping held until the loop is idle (loadgen/later.py), with gevent alone:
jobs wait while greenlets are ready, run in order, a slice at a time, all of them at the stop,
and never pile up past their bound."""

from __future__ import annotations

import logging
import time

import gevent
import pytest

from loadgen.later import Later


def test_jobs_wait_until_no_greenlet_is_ready() -> None:
    later, order = Later(), []

    def busy(name: str) -> None:
        for i in range(5):
            order.append(f"{name}{i}")
            gevent.sleep(0)  # ready again at once: the loop is not idle

    later.add(lambda: order.append("job"))
    greenlets = [gevent.spawn(busy, name) for name in "ab"]
    gevent.joinall(greenlets)
    gevent.sleep(0.01)
    assert order[-1] == "job" and len(order) == 11


def test_a_long_queue_runs_a_slice_at_a_time() -> None:
    """Jobs of a millisecond each, slices of two: a greenlet that is ready meanwhile (a
    subscriber whose bytes arrived) runs between slices, not after the whole queue."""
    later, order = Later(slice_s=0.002), []

    def job(k: int) -> None:
        end = time.perf_counter() + 0.001
        while time.perf_counter() < end:
            pass
        order.append(f"job{k}")

    def reader() -> None:
        while len([e for e in order if e.startswith("job")]) < 20:
            order.append("read")
            gevent.sleep(0.001)

    for k in range(20):
        later.add(lambda k=k: job(k))
    done = gevent.spawn(reader)
    done.join(timeout=10)
    jobs = [e for e in order if e.startswith("job")]
    assert jobs == [f"job{k}" for k in range(20)]  # in order, all of them
    first, last = order.index("job0"), order.index("job19")
    assert "read" in order[first:last]


def test_run_all_runs_everything_now_in_order() -> None:
    later, order = Later(), []
    for k in range(5):
        later.add(lambda k=k: order.append(k))
    assert order == [] and len(later) == 5
    later.run_all()
    assert order == [0, 1, 2, 3, 4] and len(later) == 0


def test_past_its_bound_the_adder_works_off_the_oldest() -> None:
    later, order = Later(max_waiting=4), []
    for k in range(10):
        later.add(lambda k=k: order.append(k))
        assert len(later) <= 4
    assert order == list(range(len(order))) and len(order) >= 6
    later.run_all()
    assert order == list(range(10))


def test_a_failing_job_is_logged_and_the_others_run(caplog: pytest.LogCaptureFixture) -> None:
    later, order = Later(), []

    def broken() -> None:
        raise ValueError("not a feed message")

    later.add(broken)
    later.add(lambda: order.append("after"))
    with caplog.at_level(logging.ERROR, logger="tornado-bench"):
        later.run_all()
    assert order == ["after"]
    assert "per-message bookkeeping failed" in caplog.text and "not a feed message" in caplog.text
