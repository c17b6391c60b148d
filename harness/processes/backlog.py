"""Polls a built-in server's /health while an enqueue cell loads it, in a background thread,
and writes what it read as backlog.csv in the cell's folder: the background jobs queued, in
progress, completed and turned away over time. The harness computes nothing from it; the
file is there so that the backlog over time, and the rate at which background work
completes, can be shown.

A multiprocess server's /health is answered by whichever of its processes accepted the poll's
connection, and each process counts only its own jobs (servers/work.py: Backlog): a row of a
multiprocess cell is one process's backlog, not the server's. The `pid` column says which.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from catalog import workloads
from harness.processes import children as procs
from record import io
from record.schema import BACKLOG_COLUMNS, BACKLOG_FILE

POLL_INTERVAL_S = 0.5
# A poll that takes longer is skipped (a blocking strategy may hold /health behind a job).
POLL_TIMEOUT_S = 1.0

Row = tuple[float, int, int, int, int, int]


def wanted(scenario: str, user_file: bool, builtin_server: bool) -> bool:
    """Poll a cell of a built-in workload that keeps a backlog (catalog/workloads.py) on a
    server the harness started from servers/ (a target or an app has no known /health)."""
    return workloads.polls_backlog(scenario) and not user_file and builtin_server


def reading(body: bytes) -> tuple[int, int, int, int, int] | None:
    """(queued, in_progress, completed, rejected, pid) from a /health body; None when the
    body carries no background counts."""
    try:
        health = json.loads(body)
        bg = health["background"]
        return (
            int(bg["queued"]),
            int(bg["in_progress"]),
            int(bg["completed"]),
            int(bg["rejected"]),
            int(health.get("pid", 0)),
        )
    except (ValueError, KeyError, TypeError):
        return None


@dataclass
class BacklogPoller:
    """GET health_url every interval_s (on a fixed schedule: a slow answer skips ticks, it
    does not shift the later ones); a row per answer that carries background counts."""

    health_url: str
    interval_s: float = POLL_INTERVAL_S
    rows: list[Row] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="backlog", daemon=True)
        self._thread.start()

    def stop(self) -> list[Row]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=POLL_TIMEOUT_S + 5)
        return list(self.rows)

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
            status, _, body = procs.http_get(self.health_url, timeout=POLL_TIMEOUT_S)
        except (OSError, http.client.HTTPException):
            return  # no answer this time (the server busy, or stopping)
        got = reading(body) if status == 200 else None
        if got is not None:
            # The counts were read somewhere between sending and answering: the midpoint.
            self.rows.append(((sent + time.time()) / 2, *got))


def write_backlog(cell_dir: Path, rows: list[Row]) -> None:
    """backlog.csv: a header and one line per poll, in the order polled."""
    lines = [",".join(BACKLOG_COLUMNS)]
    lines += [f"{r[0]:.3f},{r[1]},{r[2]},{r[3]},{r[4]},{r[5]}" for r in rows]
    io.write_text(cell_dir / BACKLOG_FILE, "\n".join(lines) + "\n")
