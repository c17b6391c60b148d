"""A Locust process's own CPU over the measured window, read from the kernel's counters at the
window's start and end (psutil, which Locust already loads). Every worker measures itself, so
the figure exists for workers on other machines too."""

from __future__ import annotations

import math
import time

import gevent
import psutil


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
