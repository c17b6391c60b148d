"""Per-message bookkeeping held until the event loop has nothing else ready. One broadcast wakes
every feed subscriber at once; when each did its bookkeeping (parse, Locust's stats, the
recorder) before the next one read its socket, the last subscriber's arrival was stamped only
after everyone else's bookkeeping: at a thousand connections, 100-350 ms that the server
never spent (issue 28). Here a subscriber only reads and stamps, and queues the rest; the
queue is worked through when no socket is ready (gevent.idle), a slice at a time, so that a
subscriber whose bytes arrive meanwhile still stamps them first.

Nothing is dropped: a job waits at most until the load stops (run_all, before the recorder
closes), and past MAX_WAITING jobs the one who adds works off the oldest itself, so a loop
that is never idle (a generator at its limit) holds bounded memory.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

import gevent

log = logging.getLogger("tornado-bench")
Job = Callable[[], None]
# The longest the queue is worked through before the loop looks at its sockets again: a
# stamp taken meanwhile is late by at most this (and one job).
SLICE_S = 0.002
# Jobs that may wait: a broadcast to 10,000 subscribers; past it the adder catches up.
MAX_WAITING = 10_000


class Later:
    def __init__(self, *, slice_s: float = SLICE_S, max_waiting: int = MAX_WAITING) -> None:
        self.slice_s = slice_s
        self.max_waiting = max_waiting
        self._jobs: deque[Job] = deque()
        self._worker: gevent.Greenlet | None = None

    def __len__(self) -> int:
        return len(self._jobs)

    def add(self, job: Job) -> None:
        self._jobs.append(job)
        if len(self._jobs) > self.max_waiting:
            self._run(len(self._jobs) - self.max_waiting // 2)
        if self._worker is None:
            self._worker = gevent.spawn(self._work)

    def run_all(self) -> None:
        """Every job now, in order, without yielding (the load has stopped: its records
        must be in before the recorder closes)."""
        self._run(len(self._jobs))

    def _work(self) -> None:
        try:
            while self._jobs:
                gevent.idle()
                deadline = time.perf_counter() + self.slice_s
                while self._jobs and time.perf_counter() < deadline:
                    self._run(1)
        finally:
            self._worker = None

    def _run(self, count: int) -> None:
        jobs = self._jobs
        for _ in range(min(count, len(jobs))):
            job = jobs.popleft()
            try:
                job()
            except Exception:  # one bad job must not stop the others (Locust logs alike)
                log.exception("per-message bookkeeping failed")
