"""Results folder → tidy DataFrames. `load_run(path)` is the public entry point for notebooks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness import io
from harness.errors import UserError
from harness.scenarios import scenario_label

REQUEST_COLUMNS = ["start", "latency_ms", "endpoint", "status", "bytes", "ok", "worker"]


@dataclass(frozen=True)
class RunData:
    path: Path
    meta: dict[str, Any]  # run.json
    cells: pd.DataFrame  # one row per cell that has a cell.json
    requests: pd.DataFrame  # window requests of every cell, with a cell_id column

    @property
    def run_id(self) -> str:
        return str(self.meta.get("run_id", self.path.name))

    def cell_dir(self, cell_id: str) -> Path:
        return self.path / "cells" / cell_id

    def outside(self, cell_id: str) -> pd.DataFrame:
        """Warm-up and tail requests of one cell (only charts of a run over time use them)."""
        path = self.cell_dir(cell_id) / "outside.parquet"
        return pd.read_parquet(path) if path.exists() else _empty_requests()

    def resources(self, cell_id: str) -> pd.DataFrame:
        path = self.cell_dir(cell_id) / "server_resources.csv"
        return pd.read_csv(path) if path.exists() else pd.DataFrame()


def _empty_requests() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in REQUEST_COLUMNS})


def cell_row(info: dict[str, Any]) -> dict[str, Any]:
    cell = info["cell"]
    window = info.get("window") or {}
    return {
        "cell_id": cell["cell_id"],
        "variant": cell["variant"],
        "loop": cell["loop"],
        "scenario": scenario_label(cell["scenario"], cell["params"]),
        "scenario_name": cell["scenario"],
        "params": cell["params"],
        "users": cell["users"],
        "repeat": cell["repeat"],
        "threads": cell["threads"],
        "processes": cell["processes"],
        "status": info["status"],
        "reason": info.get("reason", ""),
        "window_start": window.get("start", math.nan),
        "window_end": window.get("end", math.nan),
        "server_cpu_pct": info.get("server_cpu_pct", math.nan),
        "loadgen_cpu_pct": info.get("loadgen_cpu_pct", math.nan),
        "cores": info.get("cores", 1),
        "wall_s": info.get("timings", {}).get("wall_s", math.nan),
        "max_error_rate": info.get("suite", {}).get("max_error_rate", 0.01),
    }


def load_run(path: str | Path) -> RunData:
    """Read a results folder; refuses a folder whose schema version this code does not know."""
    root = Path(path)
    if not (root / "run.json").exists():
        raise UserError(f"{root}: not a results folder (no run.json)")
    meta = io.read_json(root / "run.json")
    rows = []
    frames = []
    order = {cid: i for i, cid in enumerate(meta.get("cells", []))}
    for cell_json in sorted((root / "cells").glob("*/cell.json")):
        info = io.read_json(cell_json)
        row = cell_row(info)
        rows.append(row)
        parquet = cell_json.parent / "requests.parquet"
        if row["status"] != "failed" and parquet.exists():
            frame = pd.read_parquet(parquet)
            frame["cell_id"] = row["cell_id"]
            frames.append(frame)
    cells = pd.DataFrame(rows)
    if not cells.empty:
        cells["_order"] = cells["cell_id"].map(order).fillna(len(order))
        cells = cells.sort_values(["_order", "cell_id"]).drop(columns="_order")
        cells = cells.reset_index(drop=True)
    requests = (
        pd.concat(frames, ignore_index=True) if frames else _empty_requests().assign(cell_id="")
    )
    if len(requests):
        requests["cell_id"] = requests["cell_id"].astype("category")
    return RunData(path=root, meta=meta, cells=cells, requests=requests)
