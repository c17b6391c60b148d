"""Every path in a results folder, said once (the names are record/schema.py's):

    <results>/<run-id>/          RunLayout: run.json, summary.csv, endpoints.csv, report.html, charts/
        cells/<cell-id>/         CellLayout: cell.json, requests.parquet, loadgen.json, logs, ...

A reader or writer asks a layout for a path instead of joining names itself, so the tree's
shape lives here alone (as asv's results module keeps its own)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from record.schema import (
    BACKLOG_FILE,
    CELL_FILE,
    CELLS_DIR,
    CHARTS_DIR,
    CONNECTIONS_CSV,
    CONNECTIONS_FILE,
    ENDPOINTS_FILE,
    GO_FILE,
    HLOG_FILE,
    LOADGEN_FILE,
    OUTSIDE_FILE,
    PROFILE_FILE,
    PROFILE_SPEEDSCOPE,
    PROFILE_STACKS,
    REPORT_FILE,
    REQUESTS_FILE,
    RESOURCES_FILE,
    RUN_FILE,
    SLOTS_FILE,
    SUMMARY_FILE,
)


@dataclass(frozen=True)
class RunLayout:
    """A run's folder."""

    root: Path

    @property
    def run_json(self) -> Path:
        return self.root / RUN_FILE

    @property
    def summary_csv(self) -> Path:
        return self.root / SUMMARY_FILE

    @property
    def endpoints_csv(self) -> Path:
        return self.root / ENDPOINTS_FILE

    @property
    def report_html(self) -> Path:
        return self.root / REPORT_FILE

    @property
    def charts(self) -> Path:
        return self.root / CHARTS_DIR

    @property
    def cells(self) -> Path:
        return self.root / CELLS_DIR

    def cell(self, cell_id: str) -> CellLayout:
        return CellLayout(self.cells / cell_id)

    def cell_records(self) -> list[Path]:
        """Every cell.json of the run, in the order of their folders' names."""
        return sorted(self.cells.glob(f"*/{CELL_FILE}"))


@dataclass(frozen=True)
class CellLayout:
    """One cell's folder."""

    root: Path

    @property
    def run(self) -> RunLayout:
        """The run this cell belongs to."""
        return RunLayout(self.root.parent.parent)

    @property
    def cell_json(self) -> Path:
        return self.root / CELL_FILE

    @property
    def requests(self) -> Path:
        return self.root / REQUESTS_FILE

    @property
    def outside(self) -> Path:
        return self.root / OUTSIDE_FILE

    @property
    def slots(self) -> Path:
        return self.root / SLOTS_FILE

    @property
    def loadgen(self) -> Path:
        return self.root / LOADGEN_FILE

    @property
    def resources(self) -> Path:
        return self.root / RESOURCES_FILE

    @property
    def backlog(self) -> Path:
        return self.root / BACKLOG_FILE

    @property
    def connections(self) -> Path:
        return self.root / CONNECTIONS_FILE

    @property
    def connections_csv(self) -> Path:
        return self.root / CONNECTIONS_CSV

    @property
    def hlog(self) -> Path:
        return self.root / HLOG_FILE

    @property
    def go(self) -> Path:
        return self.root / GO_FILE

    @property
    def profile(self) -> Path:
        return self.root / PROFILE_FILE

    def profile_stacks(self, view: str) -> Path:
        """py-spy's collapsed stacks of one view ("wall" or "gil": record/profile.py)."""
        return self.root / PROFILE_STACKS[view]

    @property
    def speedscope(self) -> Path:
        return self.root / PROFILE_SPEEDSCOPE

    def log(self, role: str) -> Path:
        """A process's output: server, backend, database or locust."""
        return self.root / f"{role}.log"
