"""A Locust process's own CPU over the measured window, read from the kernel's counters at the
window's start and end (psutil, which Locust already loads), and its resident memory when the
load starts (imported, before the first user) and at the window's start and end. Every
worker measures itself, so the figures exist for workers on other machines too.

The memory readings give the load side's cost per long-lived connection (harness/connections.py):
the harness's sampler sees a Locust process from its start, before its imports (about 80 MB
here), so its "before the first connection" was the interpreter before Locust, and the
difference charged every connection with Locust's imports (21 KB a connection at 5,000)."""

from __future__ import annotations

import contextlib
import math
import os
import time

import gevent
import psutil


def cpu_set(text: str) -> tuple[int, ...]:
    """--bench-cpus: the cores this Locust process runs its load on ("1", "0,1"); empty: the
    cores it was started on. A tuple: a master's options travel to its workers in msgpack,
    which has no sets."""
    try:
        cpus = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise ValueError(f"--bench-cpus {text!r}: core numbers separated by commas") from None
    if any(cpu < 0 for cpu in cpus):
        raise ValueError(f"--bench-cpus {text!r}: core numbers start at 0")
    return cpus


def place_self(cpus: tuple[int, ...]) -> None:
    """Every thread of this process onto `cpus` (sched_setaffinity moves one thread; one
    started before keeps its own set). Called once Locust and the scenario are imported: a
    master and its workers import on every core, where three imports take 1.3 s instead of
    2.8 s on the generator's one, and the load runs on the generator's cores only."""
    if not cpus:
        return
    for tid in os.listdir(f"/proc/{os.getpid()}/task"):
        with contextlib.suppress(ProcessLookupError):  # that thread has ended
            os.sched_setaffinity(int(tid), cpus)


class CpuWatch:
    def __init__(self) -> None:
        self._proc = psutil.Process()
        self._first: tuple[float, float] | None = None
        self._last: tuple[float, float] | None = None
        self.rss_load_start = math.nan  # bytes, when the load started
        self._rss_window: list[float] = []  # bytes, at the window's start and end

    def _read(self) -> tuple[float, float]:
        times = self._proc.cpu_times()
        return time.monotonic(), times.user + times.system

    def start(self, begin_in_s: float, length_s: float) -> None:
        """Read at the window's start and end, `begin_in_s` and `begin_in_s + length_s` from now."""
        self._first = self._last = None
        self.rss_load_start = self._rss()
        self._rss_window = []

        def first() -> None:
            self._first = self._read()
            self._rss_window.append(self._rss())

        def last() -> None:
            self._last = self._read()
            self._rss_window.append(self._rss())

        gevent.spawn_later(max(0.0, begin_in_s), first)
        gevent.spawn_later(max(0.0, begin_in_s + length_s), last)

    def _rss(self) -> float:
        try:
            return float(self._proc.memory_info().rss)
        except psutil.Error:
            return math.nan

    def rss_in_window(self) -> float:
        """Resident bytes over the window: the mean of its start and end readings (the start's
        alone when cut short); NaN if the window never began."""
        return sum(self._rss_window) / len(self._rss_window) if self._rss_window else math.nan

    def pct(self) -> float:
        """Mean CPU % over the window (to now when it was cut short); NaN if it never began."""
        if self._first is None:
            return math.nan
        last = self._last or self._read()
        wall = last[0] - self._first[0]
        return (last[1] - self._first[1]) / wall * 100.0 if wall > 0 else math.nan
