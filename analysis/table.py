"""Tables for people: the terminal table printed after a run, and the report's tables as plain
data (rows of already formatted strings with their CSS classes) for the HTML template to loop
over. Nothing here writes markup: the template does, and escapes every value."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import pandas as pd

DASH = "–"  # a value that does not exist (no request, no bound), never a zero
LEFT = "l"  # CSS class of a left-aligned (text) column

# The terminal table: column → heading, and decimals of the numeric ones.
TERMINAL_COLUMNS = {
    "cell_id": "cell",
    "status": "status",
    "requests": "requests",
    "rps": "req/s",
    "p50_ms": "p50 ms",
    "p99_ms": "p99 ms",
    "expected_rps": "bound",
    "efficiency": "eff",
    "loadgen_cpu_pct": "gen CPU%",
    "notes": "notes",
}
TERMINAL_DIGITS = {
    "rps": 1,
    "p50_ms": 1,
    "p99_ms": 1,
    "expected_rps": 1,
    "efficiency": 2,
    "loadgen_cpu_pct": 0,
}

# The report's table of every cell: column → heading.
CELL_COLUMNS = {
    "cell_id": "cell",
    "status": "status",
    "requests": "requests",
    "error_rate": "errors",
    "rps": "req/s",
    "mean_ms": "mean ms",
    "p50_ms": "p50",
    "p90_ms": "p90",
    "p99_ms": "p99",
    "p999_ms": "p99.9",
    "max_ms": "max",
    "expected_rps": "bound",
    "efficiency": "eff",
    "server_cpu_pct": "server CPU%",
    "server_cpu_ms_per_req": "server ms CPU/req",
    "loadgen_core_pct": "gen cores %",
    "notes": "notes",
}


# A user's app has no bound; its CPU capacity (analysis/model.py) is shown instead, in a
# column that appears only when some cell has one, so built-in runs read as before.
CAPACITY = ("cpu_capacity_rps", "CPU capacity")


def _with_capacity(columns: dict[str, str], summary: pd.DataFrame) -> dict[str, str]:
    col, heading = CAPACITY
    if col not in summary or not summary[col].notna().any():
        return columns
    items = list(columns.items())
    at = list(columns).index("efficiency") + 1
    return dict([*items[:at], (col, heading), *items[at:]])


def _ranking_frame(ranking: pd.DataFrame) -> pd.DataFrame:
    """The ranking as shown: the interval in one column; a generator-limited figure as ≥."""
    return pd.DataFrame(
        {
            "scenario": ranking["scenario"],
            "loop": ranking["loop"],
            "rank": ranking["rank"],
            "variant": ranking["variant"],
            "best req/s": [
                ("≥ " if lim else "") + fmt(float(v))
                for v, lim in zip(ranking["rps"], ranking["generator_limited"], strict=True)
            ],
            "95% CI": [
                f"{fmt(float(lo))} – {fmt(float(hi))}" if pd.notna(lo) else "–"
                for lo, hi in zip(ranking["rps_ci_low"], ranking["rps_ci_high"], strict=True)
            ],
            "at users": ranking["users"],
            "× best": ranking["vs_best"],
        }
    )


def fmt(value: Any, digits: int = 1) -> str:
    """A number as people read it: thousands separated, a dash for a missing value."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return DASH
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def percent(value: Any) -> str:
    return f"{value:.2%}" if pd.notna(value) else DASH


@dataclass(frozen=True)
class TableCell:
    text: str
    css: str = ""
    badge: str = ""  # when set, the text is shown as a status badge of this kind


@dataclass(frozen=True)
class Row:
    cells: list[TableCell]
    css: str | None = None  # tr class: the cell's status, so failed and invalid rows stand out


@dataclass(frozen=True)
class Table:
    head: list[TableCell]
    rows: list[Row]


def html_table(
    frame: pd.DataFrame,
    *,
    left: Collection[str] = (),
    formats: dict[str, Callable[[Any], str]] | None = None,
    badges: str | None = None,
    row_css: list[str] | None = None,
) -> Table:
    """frame's columns as headings and its values as text (fmt with one decimal unless
    `formats` names another formatter for a column); `badges` names the column shown as a
    status badge; `row_css` gives each row's class."""
    formats = formats or {}
    cols = list(frame.columns)
    css = {c: LEFT if c in left else "" for c in cols}
    head = [TableCell(str(c), css[c]) for c in cols]
    rows = []
    for i, values in enumerate(frame.itertuples(index=False)):
        cells = [
            TableCell(formats.get(c, fmt)(v), css[c], badge=str(v) if c == badges else "")
            for c, v in zip(cols, values, strict=True)
        ]
        rows.append(Row(cells, row_css[i] if row_css is not None else None))
    return Table(head, rows)


def ranking_table(ranking: pd.DataFrame) -> Table:
    frame = _ranking_frame(ranking)
    return html_table(
        frame,
        left={"scenario", "loop", "variant"},
        formats={"× best": lambda v: fmt(v, 2)},
    )


def cells_table(summary: pd.DataFrame) -> Table:
    columns = _with_capacity(CELL_COLUMNS, summary)
    frame = summary[list(columns)].rename(columns=columns)
    return html_table(
        frame,
        left={"cell", "notes"},
        formats={
            "errors": percent,
            "eff": lambda v: fmt(v, 2),
            "status": str,
            "server ms CPU/req": lambda v: fmt(v, 3),
        },
        badges="status",
        row_css=[str(s) for s in summary["status"]],
    )


def repeats_table(repeats: pd.DataFrame) -> Table:
    return html_table(repeats, left={"variant", "loop", "scenario"})


def table_text(summary: pd.DataFrame) -> str:
    """The cells as a plain-text table for the terminal."""
    if summary.empty:
        return "(no cells)"
    columns = _with_capacity(TERMINAL_COLUMNS, summary)
    frame = summary[list(columns)].copy()
    for col, digits in {**TERMINAL_DIGITS, CAPACITY[0]: 1}.items():
        if col in frame:
            frame[col] = frame[col].map(lambda v, d=digits: fmt(float(v), d))
    return frame.rename(columns=columns).to_string(index=False, max_colwidth=70)
