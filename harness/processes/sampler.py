"""Samples CPU % and RSS of every process of the cell (servers with their forked workers,
the backend, the load generator) in a background thread."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import psutil

# Often enough to see a cell's shape, rarely enough to cost nothing measurable.
SAMPLE_INTERVAL_S = 0.5
SAMPLE_COLUMNS = ["t", "role", "pid", "cpu_pct", "rss_bytes"]


@dataclass
class Sampler:
    # (role, leader pid) pairs, or a dict role → leader pid; children are found at every
    # sample. A role may have several leaders (the Locust master and its local workers).
    roles: dict[str, int] | list[tuple[str, int]]
    interval_s: float = SAMPLE_INTERVAL_S
    rows: list[tuple[float, str, int, float, int]] = field(default_factory=list)
    _procs: dict[int, psutil.Process] = field(default_factory=dict)
    # psutil's first cpu_percent of a process is a meaningless 0.0 (it measures since the
    # previous call): a process seen for the first time is primed, not recorded.
    _primed: set[int] = field(default_factory=set)
    # Each role's RSS summed over its processes at the priming sample, taken before the load
    # begins (Locust is still starting): the idle memory the peak is compared with.
    idle_rss: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._sample(record=False)  # primes cpu_percent, which measures since the last call
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self._thread.start()

    def stop(self) -> list[tuple[float, str, int, float, int]]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return self.rows

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample(record=True)

    def _members(self, leader: int) -> list[psutil.Process]:
        try:
            if leader not in self._procs:
                self._procs[leader] = psutil.Process(leader)
            root = self._procs[leader]
            found = [root]
            for child in root.children(recursive=True):
                found.append(self._procs.setdefault(child.pid, child))
            return found
        except psutil.NoSuchProcess:
            return []

    def _sample(self, record: bool) -> None:
        now = time.time()
        pairs = self.roles.items() if isinstance(self.roles, dict) else self.roles
        for role, leader in pairs:
            for proc in self._members(leader):
                try:
                    with proc.oneshot():
                        cpu = proc.cpu_percent(None)
                        rss = proc.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
                first = proc.pid not in self._primed
                self._primed.add(proc.pid)
                if not record:
                    self.idle_rss[role] = self.idle_rss.get(role, 0) + rss
                if record and not first:
                    self.rows.append((now, role, proc.pid, cpu, rss))
