"""Every run under some folders, read for the history: run.json (when, which commit, which
machine, how fast the machine was) and summary.csv (any schema version: columns an older run
lacks are empty). A run without summary.csv has its summary built from its raw data."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from record.errors import UserError
from record.layout import RunLayout
from record.records import RunRecord
from record.schema import RUN_FILE, SUMMARY_COLUMNS


@dataclass(frozen=True)
class HistoryRun:
    run_id: str
    path: Path
    started: float
    commit: str
    dirty: bool | None
    machine: str  # the fingerprint, readable: "Intel Xeon ... / 2 cores / 7.8 GB"
    speed_s: float  # the machine-speed loop's mean seconds in this run (NaN: not measured)
    summary: pd.DataFrame  # SUMMARY_COLUMNS, one row per cell


def find_runs(folders: list[Path]) -> list[Path]:
    """Every folder holding a run.json under the folders given (a folder may be a run)."""
    found: list[Path] = []
    for folder in folders:
        if not folder.is_dir():
            raise UserError(f"history: {folder} is not a folder")
        found += sorted(p.parent for p in folder.rglob(RUN_FILE))
    return list(dict.fromkeys(found))


def read_summary(run_dir: Path) -> pd.DataFrame:
    path = RunLayout(run_dir).summary_csv
    if path.exists():
        frame = pd.read_csv(path)
    else:  # never reported: build it from the raw data, as `report` would
        from analysis import aggregate
        from analysis.load import load_run

        run = load_run(run_dir)
        frame = aggregate.build_summary(run.cells, run.cell_requests, run.run_id, run.cell_slots)
    return frame.reindex(columns=list(SUMMARY_COLUMNS))


def read_run(run_dir: Path) -> HistoryRun:
    record = RunRecord.read(run_dir)
    speeds = record.speed.readings
    return HistoryRun(
        run_id=record.run_id,
        path=run_dir,
        started=record.started,
        commit=record.environment.git_commit,
        dirty=record.environment.git_dirty,
        machine=record.environment.fingerprint(),
        speed_s=float(np.mean(speeds)) if speeds else math.nan,
        summary=read_summary(run_dir),
    )


def load_history(folders: list[Path]) -> tuple[list[HistoryRun], list[str]]:
    """The runs, oldest first, and one line per folder skipped (with why)."""
    runs, skipped = [], []
    for path in find_runs(folders):
        try:
            runs.append(read_run(path))
        except (UserError, OSError, ValueError) as exc:
            skipped.append(f"{path}: {exc}")
    if not runs:
        raise UserError(
            "history: no results folder (with run.json) under " + ", ".join(map(str, folders))
        )
    runs.sort(key=lambda r: (r.started if math.isfinite(r.started) else 0.0, r.run_id))
    return runs, skipped
