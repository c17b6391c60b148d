"""A Locust process's own CPU over the measured window, read from the kernel's counters at the
window's start and end (psutil, which Locust already loads). Every worker measures itself, so
the figure exists for workers on other machines too."""

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

    def _read(self) -> tuple[float, float]:
        times = self._proc.cpu_times()
        return time.monotonic(), times.user + times.system

    def start(self, begin_in_s: float, length_s: float) -> None:
        """Read at the window's start and end, `begin_in_s` and `begin_in_s + length_s` from now."""
        self._first = self._last = None

        def first() -> None:
            self._first = self._read()

        def last() -> None:
            self._last = self._read()

        gevent.spawn_later(max(0.0, begin_in_s), first)
        gevent.spawn_later(max(0.0, begin_in_s + length_s), last)

    def pct(self) -> float:
        """Mean CPU % over the window (to now when it was cut short); NaN if it never began."""
        if self._first is None:
            return math.nan
        last = self._last or self._read()
        wall = last[0] - self._first[0]
        return (last[1] - self._first[1]) / wall * 100.0 if wall > 0 else math.nan
