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
from typing import Any

import numpy as np
import pandas as pd

from analysis.cellstats import nearest_ranks
from analysis.load import RunData, headline_rows
from record.records import CellRecord

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


def _label_ids(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Each row's label as a number, and the labels: a null (request_type before schema 7)
    is "", and so one label with a category that is "" already. From the column's categories
    (load.read_requests reads them so), never a Python string per row."""
    labels = column if isinstance(column.dtype, pd.CategoricalDtype) else column.astype("category")
    names = np.array([*(str(c) for c in labels.cat.categories), ""], dtype=object)
    ids, unique = pd.factorize(names)
    # A null's code is -1: the last name, "".
    return ids[labels.cat.codes.to_numpy()], [str(u) for u in unique]


def _groups(requests: pd.DataFrame) -> list[tuple[str, str, np.ndarray | None]]:
    """(request type, endpoint, the rows' positions) of each pair in the rows, in the order
    each first appears; positions None when every row has the one pair (most cells)."""
    types, type_names = _label_ids(requests["request_type"])
    names, endpoint_names = _label_ids(requests["endpoint"])
    key = types * len(endpoint_names) + names
    if (key == key[0]).all():
        return [(type_names[types[0]], endpoint_names[names[0]], None)]
    pairs, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    members = np.split(np.argsort(inverse, kind="stable"), np.cumsum(np.bincount(inverse))[:-1])
    out = []
    for g in np.argsort(first):
        pair = int(pairs[g])
        out.append(
            (
                type_names[pair // len(endpoint_names)],
                endpoint_names[pair % len(endpoint_names)],
                members[g],
            )
        )
    return out


def endpoint_rows(requests: pd.DataFrame, duration_s: float) -> list[dict[str, Any]]:
    """One row per (request type, endpoint) of one cell's window rows, busiest first (each
    pair's rows picked out with numpy: a pandas groupby cost more than the statistics)."""
    if requests.empty:
        return []
    ok = requests["ok"].to_numpy(bool)
    latency = requests["latency_ms"].to_numpy(float)
    received = requests["bytes"].to_numpy()
    sent = requests["bytes_sent"].to_numpy(float) if "bytes_sent" in requests else None
    rows = []
    for rtype, name, at in _groups(requests):
        part = slice(None) if at is None else at
        some = None if sent is None else sent[part]
        rows.append(_row(rtype, name, ok[part], latency[part], received[part], some, duration_s))
    return sorted(rows, key=lambda row: -row["requests"])  # stable: ties keep their order


def endpoint_stats(requests: pd.DataFrame, duration_s: float) -> pd.DataFrame:
    """endpoint_rows as a frame (ENDPOINT_COLUMNS from request_type on)."""
    return pd.DataFrame(endpoint_rows(requests, duration_s), columns=list(ENDPOINT_COLUMNS[6:]))


def _row(
    rtype: str,
    name: str,
    ok: np.ndarray,
    latency: np.ndarray,
    received: np.ndarray,
    sent: np.ndarray | None,
    duration_s: float,
) -> dict[str, Any]:
    total, failures = len(ok), int((~ok).sum())
    p50, p99, top = nearest_ranks(latency[ok], [50.0, 99.0, 100.0])
    return {
        "request_type": rtype,
        "endpoint": name,
        "headline": False,
        "requests": total,
        "rps": total / duration_s if duration_s > 0 else math.nan,
        "failures": failures,
        "error_pct": 100.0 * failures / total if total else math.nan,
        "p50_ms": p50,
        "p99_ms": p99,
        "max_ms": top,
        "bytes_received": int(received.sum()),
        "bytes_sent": float(sent.sum())
        if sent is not None and not np.isnan(sent).any()
        else math.nan,
    }


EndpointRow = tuple[Any, ...]  # one row of endpoints.csv, in ENDPOINT_COLUMNS' order


def cell_endpoints(run_id: str, record: CellRecord, rows: pd.DataFrame) -> list[EndpointRow]:
    """One measured cell's rows of endpoints.csv (ENDPOINT_COLUMNS) from every record of its
    window (RunData.every_request with READ); none for a cell that recorded nothing."""
    assert record.window is not None, "a cell without a window has no endpoints"
    stats = endpoint_rows(rows, record.window.duration_s)
    headline = record.settings.headline
    if headline and stats:
        pairs = pd.DataFrame(stats, columns=["request_type", "endpoint"])
        flags = headline_rows(pairs, headline).tolist()
    else:
        flags = [True] * len(stats)
    spec = record.cell
    head = {
        "run_id": run_id,
        "cell_id": spec.cell_id,
        "variant": spec.variant,
        "scenario": spec.label,
        "users": spec.users,
        "repeat": spec.repeat,
    }
    return [
        tuple({**head, **row, "headline": flag}[c] for c in ENDPOINT_COLUMNS)
        for row, flag in zip(stats, flags, strict=True)
    ]


def joined(cells: list[list[EndpointRow]]) -> pd.DataFrame:
    """endpoints.csv from its cells' rows (cell_endpoints), in the order given."""
    return pd.DataFrame([row for rows in cells for row in rows], columns=list(ENDPOINT_COLUMNS))


def endpoint_table(run: RunData) -> pd.DataFrame:
    """endpoints.csv: every measured cell's endpoints, in the run's order, one cell's rows
    read at a time."""
    cells = []
    for cell in run.cells.itertuples(index=False):
        record = run.records.get(cell.cell_id)
        if record is None or record.window is None:
            continue
        cells.append(cell_endpoints(run.run_id, record, run.every_request(cell.cell_id, READ)))
    return joined(cells)


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
