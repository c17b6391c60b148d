"""The work a server does that no strategy changes: a blocking wait, and the /enqueue jobs
of one process with their backlog (servers/handlers.py admits them; each strategy runs them in
its own way)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from catalog.health import Background
from catalog.payloads import cpu_work


def blocking_sleep(ms: int) -> None:
    time.sleep(ms / 1000.0)


@dataclass(frozen=True)
class Job:
    """One /enqueue job: a wait of ``ms`` (simulated I/O) or ``n`` units of cpu_work."""

    id: int
    ms: int | None = None
    n: int | None = None

    @property
    def kind(self) -> str:
        return "sleep" if self.ms is not None else "cpu"

    def describe(self) -> dict[str, Any]:
        amount = {"ms": self.ms} if self.ms is not None else {"n": self.n}
        return {"job": self.id, "work": self.kind, **amount}

    def run_blocking(self) -> None:
        """The work itself, blocking the calling thread until it is done."""
        if self.ms is not None:
            blocking_sleep(self.ms)
        else:
            assert self.n is not None
            cpu_work(self.n)


class Backlog:
    """The background jobs of one server process: accepted and not yet started (queued),
    running (in progress), and the totals of those done, failed and turned away.

    Safe to call from any thread (a thread pool's workers start their jobs); every strategy
    reports the end of a job on its IOLoop thread.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._next_id = 0
        self.queued = 0
        self.in_progress = 0
        self.completed = 0
        self.failed = 0
        self.rejected = 0

    @property
    def pending(self) -> int:
        """Jobs accepted and not yet done: what max_backlog bounds."""
        return self.queued + self.in_progress

    def admit(self, *, ms: int | None = None, n: int | None = None) -> Job | None:
        """A new queued job, or None (counted as rejected) when the backlog is full."""
        with self._lock:
            if self.pending >= self.limit:
                self.rejected += 1
                return None
            self._next_id += 1
            self.queued += 1
            return Job(self._next_id, ms=ms, n=n)

    def withdraw(self, job: Job) -> None:
        """An admitted job that could not be scheduled after all (the pool is shut down)."""
        with self._lock:
            self.queued -= 1
            self.rejected += 1

    def start(self, job: Job) -> None:
        with self._lock:
            self.queued -= 1
            self.in_progress += 1

    def done(self, job: Job, ok: bool = True) -> None:
        with self._lock:
            self.in_progress -= 1
            if ok:
                self.completed += 1
            else:
                self.failed += 1

    def snapshot(self) -> Background:
        with self._lock:
            return Background(
                queued=self.queued,
                in_progress=self.in_progress,
                completed=self.completed,
                failed=self.failed,
                rejected=self.rejected,
                max_backlog=self.limit,
            )
