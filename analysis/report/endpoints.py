"""The report's section on endpoints: for each cell whose records are unlike things (a chat's
posts, waits and deliveries) or whose scenario chose its headline records, one row per
endpoint (endpoints.csv, analysis/endpoints.py). Cells of one endpoint are left out: their
row in "Every cell" already says it all."""

from __future__ import annotations

import pandas as pd

from analysis.readings.words import fmt
from analysis.report.tables import Table, html_table

NOTE = (
    "Each endpoint (Locust's request type and name) of a cell that recorded more than one, or "
    "whose scenario names its headline records: its count, rate, exact p50/p99 of its "
    "successful requests, errors and bytes. The cell's row elsewhere in this report counts "
    "its headline records only (✓; every record unless its scenario sets headline = [...]). "
    "All cells' endpoints are in endpoints.csv."
)
# At most this many rows on the page (the busiest cells' first); endpoints.csv has them all.
MAX_ROWS = 400


def shown(table: pd.DataFrame, headlined: set[str]) -> pd.DataFrame:
    """The rows the page shows: cells of several endpoints, or with a headline."""
    if table.empty:
        return table
    counts = table.groupby("cell_id", sort=False)["endpoint"].transform("size")
    keep = (counts > 1) | table["cell_id"].isin(headlined)
    return table[keep].head(MAX_ROWS)


def _kb(value: float) -> str:
    return fmt(value / 1024.0) if value == value else "–"


def endpoints_table(rows: pd.DataFrame) -> Table:
    frame = pd.DataFrame(
        {
            "cell": rows["cell_id"],
            "type": rows["request_type"].fillna(""),
            "endpoint": rows["endpoint"],
            "headline": ["✓" if h else "" for h in rows["headline"]],
            "requests": rows["requests"],
            "req/s": rows["rps"],
            "p50 ms": rows["p50_ms"],
            "p99 ms": rows["p99_ms"],
            "errors %": rows["error_pct"],
            "KB received": rows["bytes_received"],
            "KB sent": rows["bytes_sent"],
        }
    )
    return html_table(
        frame,
        left={"cell", "type", "endpoint", "headline"},
        formats={
            "type": str,
            "endpoint": str,
            "headline": str,
            "requests": lambda v: f"{int(v):,}",
            "KB received": _kb,
            "KB sent": _kb,
        },
        keys=[
            (("scenario", str(s)), ("variant", str(v)))
            for s, v in zip(rows["scenario"], rows["variant"], strict=True)
        ],
    )
