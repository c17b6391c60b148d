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

from dataclasses import dataclass, field
from pathlib import Path

from catalog import workloads
from catalog.health import Health
from harness.processes.health import HealthPoller
from record import io
from record.layout import CellLayout
from record.schema import BACKLOG_COLUMNS

# A poll that takes longer is skipped (a blocking strategy may hold /health behind a job).
POLL_TIMEOUT_S = 1.0

Row = tuple[float, int, int, int, int, int]


def wanted(scenario: str, user_file: bool, builtin_server: bool) -> bool:
    """Poll a cell of a built-in workload that keeps a backlog (catalog/workloads.py) on a
    server the harness started from servers/ (a target or an app has no known /health)."""
    return workloads.polls_backlog(scenario) and not user_file and builtin_server


@dataclass
class BacklogPoller:
    """A row of backlog.csv per /health answer that carries background counts."""

    health_url: str
    rows: list[Row] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._poller = HealthPoller(self.health_url, self._take, POLL_TIMEOUT_S)

    def _take(self, at: float, health: Health) -> None:
        bg = health.background
        if bg is not None:
            self.rows.append((at, bg.queued, bg.in_progress, bg.completed, bg.rejected, health.pid))

    def start(self) -> None:
        self._poller.start()

    def stop(self) -> list[Row]:
        self._poller.stop()
        return list(self.rows)


def write_backlog(cell_dir: Path, rows: list[Row]) -> None:
    """backlog.csv: a header and one line per poll, in the order polled."""
    lines = [",".join(BACKLOG_COLUMNS)]
    lines += [f"{r[0]:.3f},{r[1]},{r[2]},{r[3]},{r[4]},{r[5]}" for r in rows]
    io.write_text(CellLayout(cell_dir).backlog, "\n".join(lines) + "\n")
