"""Results folder → tidy DataFrames. `load_run(path)` is the public entry point for notebooks.

Reads only the results format (record/): the typed run and cell records, and the raw request
rows each cell stored. requests.parquet holds exactly the rows that completed inside the cell's
window (the harness applies record.window when it writes them), so nothing here filters again.

Request rows are never read for the whole run at once: `RunData.cell_requests(cell_id,
columns)` reads one cell's file when asked (only the columns asked for), so a caller that
walks the cells holds one cell's rows at a time. Since schema 4 the rows are in completion
batches, not sorted by start: nothing may rely on their order.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analysis import connections
from record.calibration import Calibration
from record.errors import UserError
from record.layout import CellLayout, RunLayout
from record.records import CellRecord, RunRecord
from record.schema import (
    BACKLOG_COLUMNS,
    REQUEST_COLUMNS,
    VARIANT_JOIN,
)

# An enqueue cell's background work over time, polled from the server's /health
# (harness/processes/backlog.py); `since_s` is added here: seconds since the cell's load started.


@dataclass(frozen=True)
class RunData:
    path: Path
    run: RunRecord  # run.json
    records: dict[str, CellRecord]  # cell.json of every cell that has one, by cell id
    cells: pd.DataFrame  # one row per cell record (cell_row), in the run's planned order

    @property
    def run_id(self) -> str:
        return self.run.run_id

    def cell_dir(self, cell_id: str) -> Path:
        return RunLayout(self.path).cell(cell_id).root

    def cell_requests(self, cell_id: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """One cell's window requests, read now from its requests.parquet (empty for a cell
        that never loaded); only `columns` when given; its headline records only (all of them
        unless its scenario names some)."""
        record = self.records.get(cell_id)
        if record is None:
            return empty_requests(columns)
        return cell_requests(record, self.cell_dir(cell_id), columns)

    def every_request(self, cell_id: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """cell_requests, every record whatever the headline (the per-endpoint table), with
        endpoint and request_type as categoricals, read-only (read_requests' `readonly`: the
        report's one pass over a cell, which only reads it)."""
        record = self.records.get(cell_id)
        if record is None:
            return empty_requests(columns)
        return cell_requests(
            record, self.cell_dir(cell_id), columns, every=True, categories=True, readonly=True
        )

    def iter_requests(
        self, columns: Sequence[str] | None = None
    ) -> Iterator[tuple[str, pd.DataFrame]]:
        """(cell id, window requests) of every cell in the run's order, one cell read at a
        time."""
        for cell_id in self.cells["cell_id"] if len(self.cells) else ():
            yield cell_id, self.cell_requests(cell_id, columns)

    def cell_slots(self, cell_id: str) -> pd.DataFrame | None:
        """An open-loop cell's slots (cell_slots), read now; None for other cells."""
        return cell_slots(self.cell_dir(cell_id)) if cell_id in self.records else None

    def outside(self, cell_id: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Warm-up and tail requests of one cell (only charts of a run over time use them),
        its headline records only, as inside the window."""
        record = self.records.get(cell_id)
        headline = record.settings.headline if record is not None else ()
        rows = read_requests(
            CellLayout(self.cell_dir(cell_id)).outside, _with_keys(columns, headline)
        )
        return _headline_only(rows, headline, columns)

    def backlog(self, cell_id: str) -> pd.DataFrame:
        """An enqueue cell's backlog.csv (read_backlog); empty for a cell without one."""
        record = self.records.get(cell_id)
        start = record.load_started if record is not None else math.nan
        return read_backlog(self.cell_dir(cell_id), start)

    def resources(self, cell_id: str) -> pd.DataFrame:
        path = CellLayout(self.cell_dir(cell_id)).resources
        return pd.read_csv(path) if path.exists() else pd.DataFrame()


def empty_requests(columns: Sequence[str] | None = None) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns or REQUEST_COLUMNS})


def read_requests(
    path: Path,
    columns: Sequence[str] | None = None,
    *,
    categories: bool = False,
    readonly: bool = False,
) -> pd.DataFrame:
    """Request rows of one file (requests.parquet or outside.parquet), only `columns` when
    given; a column an older run lacks (intended_start before schema 3, ttfb_ms before 4)
    is NaN, request_type (before 7) null. `categories`: endpoint and request_type as pandas
    categoricals, encoded by Arrow without a Python string per row (grouping a cell's rows by
    endpoint). `readonly`: the numeric columns are Arrow's own buffers, which cannot be
    assigned to, and Arrow lets go of the rest as pandas takes them (a 3.4 M-row cell's read
    peaked at 324 MB RSS instead of 424, as fast); otherwise a frame of its own, as a notebook
    expects. Every read of request rows goes through here."""
    if not path.exists():
        return empty_requests(columns)
    with pq.ParquetFile(path) as parquet:
        present = parquet.schema_arrow.names
        wanted = [c for c in columns if c in present] if columns is not None else None
        table = parquet.read(columns=wanted, use_pandas_metadata=True)
    for col in REQUEST_COLUMNS:
        if col not in table.column_names and (columns is None or col in columns):
            kind = pa.string() if col == "request_type" else pa.float64()
            table = table.append_column(col, pa.nulls(table.num_rows, kind))
    if categories:
        for col in ("endpoint", "request_type"):
            if col in table.column_names:
                i = table.column_names.index(col)
                table = table.set_column(i, col, table[col].dictionary_encode())
    if readonly:  # the table is not used again
        return table.to_pandas(split_blocks=True, self_destruct=True)
    return table.to_pandas()


def _workers_figures(record: CellRecord, calibration: Calibration) -> dict[str, Any]:
    """The load generator's processes (schema 4): how many generated load, the busiest one's
    CPU, and the calibrated ceiling of that many (NaN without a calibration)."""
    workers = len(record.loadgen_workers) or record.workers
    cpus = [w.cpu for w in record.loadgen_workers if math.isfinite(w.cpu)]
    per_worker = calibration.ceiling_rps_per_worker
    # The ceiling is per worker with a core of its own: local workers share the generator's
    # cores (two on one core make one core's worth), each remote one brings its machine.
    remote = sum(1 for w in record.loadgen_workers if not w.local)
    local = workers - remote
    cores = len(record.placement.loadgen_cpus) if record.placement else local
    capacity = remote + min(local, max(cores, 1))
    lags = [w.lag.p99_ms for w in record.loadgen_workers if math.isfinite(w.lag.p99_ms)]
    bursts = [
        w.lag.cpu_busiest_pct
        for w in record.loadgen_workers
        if math.isfinite(w.lag.cpu_busiest_pct)
    ]
    return {
        "loadgen_workers": workers,
        "worker_cpu_max_pct": max(cpus) if cpus else math.nan,
        "ceiling_workers": capacity,
        "ceiling_rps": per_worker * capacity,
        # How late the generator's event loop woke (loadgen/lag.py), the worst process's p99,
        # and the busiest second of its busiest process (% of a core): NaN where not probed.
        "generator_lag_p99_ms": max(lags) if lags else math.nan,
        "generator_busiest_pct": max(bursts) if bursts else math.nan,
    }


def cell_row(record: CellRecord, calibration: Calibration | None = None) -> dict[str, Any]:
    """The columns of one cell that the summary is built from; `calibration` is the run's
    (RunRecord.calibration), for the generator's ceiling."""
    cell = record.cell
    window = record.window
    return {
        "cell_id": cell.cell_id,
        "variant": cell.variant,  # the strategy with its options: multiprocess+reuseport
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
        "window": window,  # record.window.Window, None for a cell that never loaded
        "server_cpu_pct": record.server_cpu_pct,
        "loadgen_cpu_pct": record.loadgen_cpu_pct,
        "loadgen_cpu_total_pct": record.loadgen_cpu_total_pct,
        "loadgen_core_pct": record.loadgen_core_pct,
        "cores": record.cores,
        "wall_s": record.wall_s,
        "max_error_rate": record.settings.max_error_rate,
        "problems": "; ".join(record.problems),
        "cell_notes": "; ".join(record.notes),
        "records": record.records,
        "locust_requests": record.locust_requests,
        "server_rss_idle_bytes": record.server_rss_idle_bytes,
        "server_rss_peak_bytes": record.server_rss_peak_bytes,
        # The busiest server process's share of the server's CPU in the window, as the
        # harness measured it (harness/outcome.py: server_shares); NaN without samples.
        "busiest_share": max(record.server_shares.values(), default=math.nan),
        "foreign_cpu_server": record.foreign_cpu_server_pct,
        "foreign_cpu_generator": record.foreign_cpu_generator_pct,
        **_workers_figures(record, calibration or Calibration()),
        # The configuration as columns, so that nothing parses it back out of cell_id.
        "strategy": cell.strategy,  # without options: multiprocess
        "options": VARIANT_JOIN.join(cell.options),  # "reuseport", "" without options
        "open_loop": cell.open_loop,
        "reuse_port": cell.reuse_port,
        "http_client": cell.http_client,
        "config_id": cell.config_id,  # everything but the repeat
        "environment": cell.environment,  # "" for the harness's own interpreter
        "across_environments": cell.across_environments,  # the config id without it
    }


def headline_rows(frame: pd.DataFrame, headline: Sequence[str]) -> pd.Series:
    """Which rows are the cell's headline records (CellSettings.headline: an endpoint's name,
    or "TYPE name"); every row when it names none. `frame` has endpoint and request_type."""
    if not headline:
        return pd.Series(True, index=frame.index)
    names = frame["endpoint"].astype(str)
    typed = frame["request_type"].fillna("").astype(str) + " " + names
    wanted = list(headline)
    return names.isin(wanted) | typed.isin(wanted)


def _headline_only(
    frame: pd.DataFrame, headline: Sequence[str], columns: Sequence[str] | None
) -> pd.DataFrame:
    if not headline:
        return frame
    kept = frame[headline_rows(frame, headline)]
    return kept if columns is None else kept[list(columns)]


def _with_keys(columns: Sequence[str] | None, headline: Sequence[str]) -> list[str] | None:
    """The columns to read: those asked for, and the two a headline is chosen by."""
    if columns is None or not headline:
        return None if columns is None else list(columns)
    return list(dict.fromkeys([*columns, "endpoint", "request_type"]))


def cell_requests(
    record: CellRecord,
    cell_dir: Path,
    columns: Sequence[str] | None = None,
    *,
    every: bool = False,
    categories: bool = False,
    readonly: bool = False,
) -> pd.DataFrame:
    """The window rows of one measured cell (empty for a cell that never loaded): its
    headline records only, unless `every` (the per-endpoint table, the connection figures);
    `categories` and `readonly` as read_requests."""
    if record.status == "failed" or record.window is None:
        return empty_requests(columns)
    headline = () if every else record.settings.headline
    path = CellLayout(cell_dir).requests
    rows = read_requests(
        path, _with_keys(columns, headline), categories=categories, readonly=readonly
    )
    return _headline_only(rows, headline, columns)


def cell_slots(cell_dir: Path) -> pd.DataFrame | None:
    """An open-loop cell's slots.parquet (record/stream.py writes it), if it has one."""
    path = CellLayout(cell_dir).slots
    return pd.read_parquet(path) if path.exists() else None


def read_backlog(cell_dir: Path, load_started: float = math.nan) -> pd.DataFrame:
    """A cell's backlog.csv, sorted by time, with `since_s`: seconds since load_started (since
    the first sample when that is unknown). Empty (same columns) for a cell without the file
    or with an empty one; a row that is not all numbers (a poller cut off mid-line) is
    dropped."""
    columns = [*BACKLOG_COLUMNS, "since_s"]
    empty = pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    path = CellLayout(cell_dir).backlog
    try:
        raw = pd.read_csv(path) if path.exists() else None
    except pd.errors.EmptyDataError:
        raw = None
    if raw is None or not set(BACKLOG_COLUMNS) <= set(raw.columns):
        return empty
    frame = raw[list(BACKLOG_COLUMNS)].apply(pd.to_numeric, errors="coerce").dropna()
    if frame.empty:
        return empty
    frame = frame.sort_values("t", kind="stable").reset_index(drop=True)
    origin = load_started if math.isfinite(load_started) else float(frame["t"].iloc[0])
    return frame.assign(since_s=frame["t"] - origin)[columns]


def load_run(path: str | Path) -> RunData:
    """Read a results folder's records; refuses a folder whose schema version this code does
    not know. Request rows stay on disk until a cell's are asked for (RunData.cell_requests)."""
    root = Path(path)
    if not root.is_dir():
        raise UserError(f"{root}: no such results folder")
    run = RunRecord.read(root)
    records: dict[str, CellRecord] = {}
    for cell_json in RunLayout(root).cell_records():
        record = CellRecord.read(cell_json.parent)
        records[record.cell_id] = record
    order = {cid: i for i, cid in enumerate(run.cells)}
    cells = pd.DataFrame([cell_row(r, run.calibration) for r in records.values()])
    if not cells.empty:
        cells["_order"] = cells["cell_id"].map(order).fillna(len(order))
        cells = cells.sort_values(["_order", "cell_id"]).drop(columns="_order")
        cells = cells.reset_index(drop=True)
        for col in ("records", "locust_requests"):  # None (not counted) stays empty in the csv
            cells[col] = cells[col].astype("Int64")
        cells = connections.join_figures(cells, root)
    return RunData(path=root, run=run, records=records, cells=cells)
