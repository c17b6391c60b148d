"""The lag probe (loadgen/lag.py) with gevent alone: it reads well under a few milliseconds on
an idle hub, above 50 ms when the hub is blocked on purpose, only inside its window, and it
finds the busiest second's CPU that a window's mean hides. The same probe runs in every
Locust process: tests/loadgen/test_locust_lag.py."""

from __future__ import annotations

import gc
import math
import time

import gevent

from loadgen.lag import PROBE_S, LagProbe, freeze_heap, nearest_rank


def block_hub(seconds: float) -> None:
    """Hold the hub as a blocking write would: time.sleep is not gevent's here (no Locust, no
    monkey-patching), so no greenlet runs meanwhile."""
    time.sleep(seconds)


def busy_hub(seconds: float) -> None:
    """Hold the hub and burn the CPU while doing so."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_an_idle_hub_reads_under_a_few_milliseconds() -> None:
    probe = LagProbe()
    probe.start(0.0, 0.6)
    gevent.sleep(0.7)
    lag = probe.figures()
    # About one wake per PROBE_S (each a little later than asked), none after the window.
    assert 0.6 / PROBE_S * 0.5 <= lag.samples <= 0.6 / PROBE_S + 1
    assert 0 <= lag.p50_ms < 3.0, lag
    # A shared machine may preempt this process now and then: the tail is bounded loosely.
    assert lag.p99_ms < 30.0 and lag.p50_ms <= lag.p99_ms <= lag.max_ms


def test_a_blocked_hub_reads_above_50_ms() -> None:
    probe = LagProbe()
    probe.start(0.0, 0.8)
    for _ in range(2):
        gevent.sleep(0.2)
        block_hub(0.12)
    gevent.sleep(0.3)
    lag = probe.figures()
    assert lag.max_ms >= 100.0, lag
    assert lag.p99_ms > 50.0, lag  # two of about sixty wakes: the top percent
    assert lag.p50_ms < 5.0, lag  # the rest of the time the hub was free


def test_only_wakes_inside_the_window_count() -> None:
    probe = LagProbe()
    probe.start(0.3, 0.3)
    gevent.sleep(0.1)
    block_hub(0.15)  # before the window: not counted
    gevent.sleep(0.55)
    block_hub(0.15)  # after it: not counted either (the probe has ended)
    lag = probe.figures()
    assert 5 <= lag.samples <= 0.3 / PROBE_S + 1
    assert lag.max_ms < 100.0, lag


def test_the_busiest_second_shows_a_burst_the_mean_hides() -> None:
    """1.1 s of a busy hub in a 2.6 s window: the busiest second is about as busy as the burst
    itself, well above the window's mean. (On a shared machine the burst may get only part of
    a core: the figures are compared with what it got.)"""
    probe = LagProbe()
    started, began = time.process_time(), time.perf_counter()
    probe.start(0.0, 2.6)
    gevent.sleep(1.2)
    burst_cpu, burst_wall = time.process_time(), time.perf_counter()
    busy_hub(1.1)
    burst = (time.process_time() - burst_cpu) / (time.perf_counter() - burst_wall) * 100
    gevent.sleep(0.4)
    mean = (time.process_time() - started) / (time.perf_counter() - began) * 100
    lag = probe.figures()
    assert lag.max_ms > 1000.0
    # The busiest reading spans the burst and a little of what came before.
    assert lag.cpu_busiest_pct > 0.6 * burst, (lag, burst)
    assert lag.cpu_busiest_pct > 1.5 * mean, (lag, mean)
    # A tenth of a second inside the burst is as busy as the burst.
    assert lag.cpu_busiest_100ms_pct > 0.8 * burst, (lag, burst)


def test_figures_before_any_wake_are_unknown() -> None:
    probe = LagProbe()
    probe.start(5.0, 1.0)
    lag = probe.figures()
    assert lag.samples == 0 and math.isnan(lag.p99_ms) and math.isnan(lag.cpu_busiest_pct)


def test_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert nearest_rank(values, 50) == 50.0 and nearest_rank(values, 99) == 99.0
    assert nearest_rank(values, 100) == 100.0 and nearest_rank([7.0], 99) == 7.0
    assert math.isnan(nearest_rank([], 50))


def test_freeze_heap_moves_what_is_alive_out_of_the_collectors_reach() -> None:
    """Now, and again at the window's start: what the warm-up made is frozen too (a frozen
    object is in none of the collector's generations)."""

    def collected(obj: object) -> bool:
        return any(o is obj for o in gc.get_objects())

    gc.unfreeze()
    try:
        early = [0]
        freeze_heap(0.05)
        warmup = [1]  # made in the warm-up
        assert not collected(early) and collected(warmup)
        gevent.sleep(0.1)
        assert not collected(warmup)
    finally:
        gc.unfreeze()
