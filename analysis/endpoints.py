"""One row per endpoint of each cell (endpoints.csv): a cell whose records mix unlike things
(a chat's posts, its long-poll waits, its WebSocket deliveries) gets each one's count, rate,
latency, errors and bytes, where summary.csv has one row for the cell's headline records
(record.records.CellSettings.headline: all of them unless its scenario names some).

An endpoint is Locust's (request type, name) pair, as its own statistics table keys it.
Latency percentiles are exact nearest-rank values of the successful requests, as in the
summary (cellstats.cell_stats), so a cell with one endpoint has the summary's figures here.
One cell's rows are read at a time, their endpoint names as categories (no string per row).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.cellstats import nearest_rank
from analysis.load import RunData, headline_rows

# endpoints.csv, in this order. bytes_sent is NaN where the records do not carry it (a run
# older than schema 9).
ENDPOINT_COLUMNS = (
    "run_id",
    "cell_id",
    "variant",
    "scenario",
    "users",
    "repeat",
    "request_type",
    "endpoint",
    "headline",
    "requests",
    "rps",
    "failures",
    "error_pct",
    "p50_ms",
    "p99_ms",
    "max_ms",
    "bytes_received",
    "bytes_sent",
)
# The request columns read; one a run lacks is left out (bytes_sent) or null (load.py).
READ = ("latency_ms", "ok", "bytes", "endpoint", "request_type", "bytes_sent")


def _labels(column: pd.Series) -> pd.Series:
    """A categorical label column with its nulls (request_type before schema 7) as ""."""
    labels = column if isinstance(column.dtype, pd.CategoricalDtype) else column.astype("category")
    if "" not in labels.cat.categories:
        labels = labels.cat.add_categories([""])
    return labels.fillna("")


def endpoint_stats(requests: pd.DataFrame, duration_s: float) -> pd.DataFrame:
    """One row per (request type, endpoint) of one cell's window rows, busiest first."""
    columns = list(ENDPOINT_COLUMNS[6:])
    if requests.empty:
        return pd.DataFrame(columns=columns)
    keys = [_labels(requests["request_type"]), _labels(requests["endpoint"])]
    rows = [
        _row(str(rtype), str(name), group, duration_s)
        for (rtype, name), group in requests.groupby(keys, observed=True, sort=False)
    ]
    out = pd.DataFrame(rows, columns=columns)
    return out.sort_values("requests", ascending=False, kind="stable").reset_index(drop=True)


def _row(rtype: str, name: str, group: pd.DataFrame, duration_s: float) -> dict:
    ok = group["ok"].to_numpy(bool)
    total, failures = len(group), int((~ok).sum())
    ordered = np.sort(group["latency_ms"].to_numpy(float)[ok])
    sent = group["bytes_sent"].to_numpy(float) if "bytes_sent" in group else np.array([np.nan])
    return {
        "request_type": rtype,
        "endpoint": name,
        "headline": False,
        "requests": total,
        "rps": total / duration_s if duration_s > 0 else math.nan,
        "failures": failures,
        "error_pct": 100.0 * failures / total if total else math.nan,
        "p50_ms": nearest_rank(ordered, 50.0),
        "p99_ms": nearest_rank(ordered, 99.0),
        "max_ms": float(ordered[-1]) if len(ordered) else math.nan,
        "bytes_received": int(group["bytes"].sum()),
        "bytes_sent": float(sent.sum()) if not np.isnan(sent).any() else math.nan,
    }


def endpoint_table(run: RunData) -> pd.DataFrame:
    """endpoints.csv: every measured cell's endpoints, in the run's order."""
    frames = []
    for cell in run.cells.itertuples(index=False):
        record = run.records.get(cell.cell_id)
        if record is None or record.window is None:
            continue
        rows = run.every_request(cell.cell_id, READ)
        stats = endpoint_stats(rows, record.window.duration_s)
        del rows
        if stats.empty:
            continue
        headline = record.settings.headline
        stats["headline"] = headline_rows(stats, headline).to_numpy() if headline else True
        spec = record.cell
        head = {
            "run_id": run.run_id,
            "cell_id": cell.cell_id,
            "variant": spec.variant,
            "scenario": spec.label,
            "users": spec.users,
            "repeat": spec.repeat,
        }
        frames.append(stats.assign(**head))
    if not frames:
        return pd.DataFrame(columns=ENDPOINT_COLUMNS)
    return pd.concat(frames, ignore_index=True)[list(ENDPOINT_COLUMNS)]


def unmatched_headlines(run: RunData, table: pd.DataFrame) -> list[str]:
    """Cells whose headline named no endpoint they recorded, each with what they recorded:
    their summary row counts nothing, and the reader must know why."""
    out = []
    for cell_id, rows in table.groupby("cell_id", sort=False):
        record = run.records[str(cell_id)]
        if record.settings.headline and not rows["headline"].any():
            seen = ", ".join(
                f"{t} {e}".strip()
                for t, e in zip(rows["request_type"], rows["endpoint"], strict=True)
            )
            out.append(
                f"{cell_id}: headline {list(record.settings.headline)} matched none of its "
                f"endpoints ({seen})"
            )
    return out
