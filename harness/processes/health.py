"""Polls a built-in server's GET /health on a thread while a cell loads it: the one poller of
an enqueue cell's backlog (harness/processes/backlog.py) and of a long-lived cell's
connections (harness/connections.py). Each answer is read as the typed record the servers
write (catalog/health.py) and handed, with the moment it was read, to the caller's function.

The schedule is fixed: a slow answer skips ticks, it does not shift the later ones. A poll
that takes longer than its timeout is skipped (a blocking strategy may hold /health behind a
job or a long-poll, and a server writing to 10,000 sockets on a busy machine answers in
seconds)."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from catalog.health import Health
from harness.processes import procs

POLL_INTERVAL_S = 0.5

# (when the counts were read, epoch seconds; what /health said)
OnHealth = Callable[[float, Health], None]


@dataclass
class HealthPoller:
    health_url: str
    on_health: OnHealth
    timeout_s: float
    interval_s: float = POLL_INTERVAL_S
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="health", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling; returns once the last poll is done (or has timed out)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 5)

    def _run(self) -> None:
        start = time.monotonic()
        tick = 0
        while not self._stop.is_set():
            self.poll()
            tick = max(tick + 1, int((time.monotonic() - start) / self.interval_s) + 1)
            if self._stop.wait(max(0.0, start + tick * self.interval_s - time.monotonic())):
                return

    def poll(self) -> None:
        sent = time.time()
        try:
            status, _, body = procs.http_get(self.health_url, timeout=self.timeout_s)
        except (OSError, http.client.HTTPException):
            return  # no answer this time (the server busy, or stopping)
        if status != 200:
            return
        try:
            health = Health.from_json(body)
        except ValueError:
            return
        # The counts were read somewhere between sending and answering: the midpoint.
        self.on_health((sent + time.time()) / 2, health)
