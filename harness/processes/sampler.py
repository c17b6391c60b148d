"""Samples CPU % and RSS of every process of the cell (servers with their forked workers,
the backend, the load generator) in a background thread; and, beside them, how busy each of
the cell's cores was (role "core", the core's number in the pid column) and what the harness
process itself used (role "harness"): what is left of a core's busy time once the cell's own
processes are taken out is other processes' (harness/outcome.py: foreign CPU)."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psutil

# Often enough to see a cell's shape, rarely enough to cost nothing measurable.
SAMPLE_INTERVAL_S = 0.5
SAMPLE_COLUMNS = ["t", "role", "pid", "cpu_pct", "rss_bytes"]
CORE = "core"  # a core's busy %: user, system, irq and steal (time taken by the hypervisor)
HARNESS = "harness"  # this process: its sampler, pollers and watchdog


@dataclass
class Sampler:
    # (role, leader pid) pairs, or a dict role → leader pid; children are found at every
    # sample. A role may have several leaders (the Locust master and its local workers).
    roles: dict[str, int] | list[tuple[str, int]]
    # The cell's cores (server's and generator's), each sampled as a whole.
    cores: tuple[int, ...] = ()
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
    _last_times: list[Any] = field(default_factory=list)

    @property
    def _me(self) -> int:
        return os.getpid()

    def _members(self, leader: int) -> list[psutil.Process]:
        if leader == self._me:  # the harness without its children: those have roles of their own
            return [self._procs.setdefault(leader, psutil.Process(leader))]
        return self._tree(leader)

    def watch(self, role: str, leader: int) -> None:
        """Sample one more process tree from now on (one started while the load runs: py-spy)."""
        if isinstance(self.roles, dict):
            self.roles[role] = leader
        else:
            self.roles.append((role, leader))

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

    def _core_busy(self) -> dict[int, float]:
        """Each core's busy % since the previous call (empty at the first), from its times:
        processes' time (user, nice, system) and steal (time the hypervisor gave another
        machine is not this cell's). Interrupt time is left out: the cell's own loopback
        traffic is handled there, by no process (about 10 % of a core at 5,000 req/s here),
        and would read as another process's. Kept here, not in psutil's shared cpu_percent
        state, so nothing else in this process moves it."""
        now = psutil.cpu_times(percpu=True)
        last, self._last_times = self._last_times, now
        busy = {}
        for core, (a, b) in enumerate(zip(last, now, strict=False)):
            total = whole_time(b) - whole_time(a)
            used = used_time(b) - used_time(a)
            if total > 0:
                busy[core] = max(0.0, min(100.0, 100.0 * used / total))
        return busy

    def _tree(self, leader: int) -> list[psutil.Process]:
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
        busy = self._core_busy()
        if record:
            self.rows += [(now, CORE, c, busy[c], 0) for c in self.cores if c in busy]
        pairs = self.roles.items() if isinstance(self.roles, dict) else self.roles
        for role, leader in [*pairs, (HARNESS, self._me)]:
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


def whole_time(times: Any) -> float:
    """A core's whole time: guest time is inside user and nice already (proc(5))."""
    return float(sum(times)) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)


def used_time(times: Any) -> float:
    """Processes' time on a core, and steal."""
    return float(times.user + times.nice + times.system + getattr(times, "steal", 0.0))
