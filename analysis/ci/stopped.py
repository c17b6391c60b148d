"""A run that ended before its last planned cell: why it stopped, and which cells it never ran.
run.json lists the planned cells and the run's status; a cell that ran has its record. CI must
see both: a JUnit testcase per unrun cell (skipped, with the reason) and a line in the job
summary, or an aborted suite reads as a short, green one."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis import thresholds
from record.records import RUN_STATUSES, RunRecord
from record.thresholds import thresholds_of

# Why, by the run's status (aborted says which threshold, below).
WHY = {
    "interrupted": "the run was interrupted (Ctrl-C or SIGTERM)",
    "running": "the run did not finish (its harness stopped before it could record why)",
    "complete": "not run",
}
ABORTED = "a threshold with abort_on_fail failed"


@dataclass(frozen=True)
class Stopped:
    status: str  # the run's status
    reason: str  # why it stopped, one line
    unrun: tuple[str, ...]  # planned cells with no record, in the planned order
    planned: int

    def __post_init__(self) -> None:
        if self.status not in RUN_STATUSES:
            raise ValueError(f"run status {self.status!r} is not one of {RUN_STATUSES}")
        if len(self.unrun) > self.planned:
            raise ValueError("more cells unrun than planned")

    @property
    def line(self) -> str:
        """One sentence for the job summary."""
        if self.status == "complete":
            return f"{len(self.unrun)} of {self.planned} planned cells have no record."
        if self.unrun:
            ran = f"{len(self.unrun)} of {self.planned} cells never ran"
        else:
            ran = "after its last cell: every planned cell ran"
        return f"The suite stopped early: {self.reason}; {ran}."

    @property
    def skip_message(self) -> str:
        """A skipped testcase's message for an unrun cell."""
        return f"not run: {self.reason}" if self.status != "complete" else "not run"


def stopped(run: RunRecord, summary: pd.DataFrame) -> Stopped | None:
    """Why the run ended before its last cell, or None when it ran them all."""
    ran = set(summary["cell_id"]) if len(summary) else set()
    unrun = tuple(c for c in run.cells if c not in ran)
    if run.status == "complete" and not unrun:
        return None
    if run.status == "aborted":
        # The same rule the run applied when it stopped (commands/run.py's abort_check).
        breach = (
            thresholds.first_breach(summary, thresholds_of(run.suite)) if len(summary) else None
        )
        reason = f"abort_on_fail: {breach}" if breach else ABORTED
    else:
        reason = WHY[run.status]
    return Stopped(run.status, reason, unrun, len(run.cells))
