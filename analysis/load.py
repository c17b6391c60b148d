"""Results folder → tidy DataFrames. `load_run(path)` is the public entry point for notebooks.

Reads only the results format (record/): the typed run and cell records, and the raw request
rows each cell stored. requests.parquet holds exactly the rows that completed inside the cell's
window (the harness applies record.window when it writes them), so nothing here filters again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from record.cells import CellRecord, RunRecord
from record.errors import UserError
from record.schema import REQUEST_COLUMNS


@dataclass(frozen=True)
class RunData:
    path: Path
    run: RunRecord  # run.json
    records: dict[str, CellRecord]  # cell.json of every cell that has one, by cell id
    cells: pd.DataFrame  # one row per cell record (cell_row), in the run's planned order
    requests: pd.DataFrame  # window requests of every cell, with a cell_id column
    slots: dict[str, pd.DataFrame]  # open-loop cells: every slot of the window (cell_slots)

    @property
    def run_id(self) -> str:
        return self.run.run_id

    def cell_dir(self, cell_id: str) -> Path:
        return self.path / "cells" / cell_id

    def outside(self, cell_id: str) -> pd.DataFrame:
        """Warm-up and tail requests of one cell (only charts of a run over time use them)."""
        path = self.cell_dir(cell_id) / "outside.parquet"
        return pd.read_parquet(path) if path.exists() else empty_requests()

    def resources(self, cell_id: str) -> pd.DataFrame:
        path = self.cell_dir(cell_id) / "server_resources.csv"
        return pd.read_csv(path) if path.exists() else pd.DataFrame()


def empty_requests() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in REQUEST_COLUMNS})


def cell_row(record: CellRecord) -> dict[str, Any]:
    """The columns of one cell that the summary is built from."""
    cell = record.cell
    window = record.window
    return {
        "cell_id": cell.cell_id,
        "variant": cell.strategy,  # with its options: multiprocess+reuseport
        "loop": cell.loop,
        "scenario": cell.label,
        "scenario_name": cell.scenario,
        "params": cell.params,
        "users": cell.users,
        "rate": cell.rate if cell.rate is not None else math.nan,
        "repeat": cell.repeat,
        "threads": cell.threads,
        "processes": cell.processes,
        "status": record.status,
        "reason": record.reason,
        "window_start": window.start if window else math.nan,
        "window_end": window.end if window else math.nan,
        "server_cpu_pct": record.server_cpu_pct,
        "loadgen_cpu_pct": record.loadgen_cpu_pct,
        "loadgen_cpu_total_pct": record.loadgen_cpu_total_pct,
        "loadgen_core_pct": record.loadgen_core_pct,
        "cores": record.cores,
        "wall_s": record.wall_s,
        "max_error_rate": record.limits.max_error_rate,
        "problems": "; ".join(record.problems),
    }


def cell_requests(record: CellRecord, cell_dir: Path) -> pd.DataFrame:
    """The window rows of one measured cell (empty for a cell that never loaded)."""
    parquet = cell_dir / "requests.parquet"
    if record.status == "failed" or record.window is None or not parquet.exists():
        return empty_requests()
    frame = pd.read_parquet(parquet)
    if "intended_start" not in frame:  # written before schema 3: every cell was closed-loop
        frame["intended_start"] = math.nan
    return frame


def cell_slots(cell_dir: Path) -> pd.DataFrame | None:
    """An open-loop cell's slots.parquet (harness/collect.py write_slots), if it has one."""
    path = cell_dir / "slots.parquet"
    return pd.read_parquet(path) if path.exists() else None


def load_run(path: str | Path) -> RunData:
    """Read a results folder; refuses a folder whose schema version this code does not know."""
    root = Path(path)
    if not root.is_dir():
        raise UserError(f"{root}: no such results folder")
    run = RunRecord.read(root)
    records: dict[str, CellRecord] = {}
    frames = []
    slots = {}
    for cell_json in sorted((root / "cells").glob("*/cell.json")):
        record = CellRecord.read(cell_json.parent)
        records[record.cell_id] = record
        frame = cell_requests(record, cell_json.parent)
        if len(frame):
            frames.append(frame.assign(cell_id=record.cell_id))
        cell_slot_rows = cell_slots(cell_json.parent)
        if cell_slot_rows is not None:
            slots[record.cell_id] = cell_slot_rows
    order = {cid: i for i, cid in enumerate(run.cells)}
    cells = pd.DataFrame([cell_row(r) for r in records.values()])
    if not cells.empty:
        cells["_order"] = cells["cell_id"].map(order).fillna(len(order))
        cells = cells.sort_values(["_order", "cell_id"]).drop(columns="_order")
        cells = cells.reset_index(drop=True)
    requests = (
        pd.concat(frames, ignore_index=True) if frames else empty_requests().assign(cell_id="")
    )
    if len(requests):
        requests["cell_id"] = requests["cell_id"].astype("category")
    return RunData(
        path=root, run=run, records=records, cells=cells, requests=requests, slots=slots
    )
