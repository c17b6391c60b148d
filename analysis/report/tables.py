"""Tables for people: the terminal table printed after a run, and the report's tables as plain
data (rows of already formatted strings with their CSS classes) for the HTML template to loop
over. Nothing here writes markup: the template does, and escapes every value."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.openloop import is_open
from analysis.readings.words import DASH, fmt, format_percent

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


# Open-loop cells: two combined columns beside req/s and p99, only when the run has any
# (blank for closed-loop rows: they offer no rate). Combined to keep the table readable.
OFFERED = ("req/s", "offered (× capacity)")
CORRECTED = ("p99", "p99 corr. (late sends)")


def _is_open(summary: pd.DataFrame) -> pd.Series:
    return is_open(summary)


def _offered_text(offered: float, utilisation: float) -> str:
    if not pd.notna(offered):
        return ""
    digits = 1 if utilisation >= 1 else 2
    times = f" ({utilisation:,.{digits}f}×)" if pd.notna(utilisation) else ""
    return f"{fmt(float(offered), 0)}{times}"


def _corrected_text(p99c: float, late: float) -> str:
    """'1,945.7 (93% late)'; the share is left out when (nearly) every send was on time."""
    late_text = f" ({late:.0f}% late)" if pd.notna(late) and late >= 0.5 else ""
    return f"{fmt(float(p99c))}{late_text}"


def _with_open_loop(frame: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """frame (the cells table's columns) with the offered rate and the corrected p99 after
    req/s and p99, when some cell is open-loop."""
    is_open = _is_open(summary)
    if not is_open.any():
        return frame
    offered = [
        _offered_text(o, u) if op else ""
        for o, u, op in zip(summary["offered_rps"], summary["utilisation"], is_open, strict=True)
    ]
    corrected = [
        _corrected_text(p, lt) if op else ""
        for p, lt, op in zip(summary["p99_corrected_ms"], summary["late_pct"], is_open, strict=True)
    ]
    out = frame.copy()
    for (after, heading), values in ((OFFERED, offered), (CORRECTED, corrected)):
        out.insert(list(out.columns).index(after) + 1, heading, values)
    return out


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


@dataclass(frozen=True)
class TableCell:
    text: str
    css: str = ""
    badge: str = ""  # when set, the text is shown as a status badge of this kind


# What a row can be filtered by in the page (data-* attributes the script reads), in the
# order the filters are offered: a scenario, a strategy, a cell's status (its validity).
FILTER_KEYS = ("scenario", "variant", "status")


@dataclass(frozen=True)
class Row:
    cells: list[TableCell]
    css: str | None = None  # tr class: the cell's status, so failed and invalid rows stand out
    keys: tuple[tuple[str, str], ...] = ()  # (FILTER_KEYS name, value) the row is filtered by

    def __post_init__(self) -> None:
        unknown = {name for name, _ in self.keys} - set(FILTER_KEYS)
        if unknown:
            raise ValueError(f"row filter keys {sorted(unknown)} are not among {FILTER_KEYS}")


@dataclass(frozen=True)
class Table:
    head: list[TableCell]
    rows: list[Row]

    @property
    def filters(self) -> str:
        """The filter keys its rows carry, space-separated (the table's data-filters)."""
        names = {name for row in self.rows for name, _ in row.keys}
        return " ".join(k for k in FILTER_KEYS if k in names)


def row_keys(frame: pd.DataFrame) -> list[tuple[tuple[str, str], ...]]:
    """Each row's filter keys from frame's scenario, variant and status columns (those it
    has)."""
    cols = [k for k in FILTER_KEYS if k in frame]
    values = zip(*(frame[c].astype(str) for c in cols), strict=True) if cols else ()
    keys = [tuple(zip(cols, v, strict=True)) for v in values]
    return keys or [() for _ in range(len(frame))]


def html_table(
    frame: pd.DataFrame,
    *,
    left: Collection[str] = (),
    formats: dict[str, Callable[[Any], str]] | None = None,
    badges: str | None = None,
    row_css: list[str] | None = None,
    keys: list[tuple[tuple[str, str], ...]] | None = None,
) -> Table:
    """frame's columns as headings and its values as text (fmt with one decimal unless
    `formats` names another formatter for a column); `badges` names the column shown as a
    status badge; `row_css` gives each row's class, `keys` what each row is filtered by."""
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
        rows.append(
            Row(
                cells,
                row_css[i] if row_css is not None else None,
                keys[i] if keys is not None else (),
            )
        )
    return Table(head, rows)


def ranking_table(ranking: pd.DataFrame) -> Table:
    frame = _ranking_frame(ranking)
    return html_table(
        frame,
        left={"scenario", "loop", "variant"},
        formats={"× best": lambda v: fmt(v, 2)},
        keys=row_keys(ranking),
    )


def cells_table(summary: pd.DataFrame) -> Table:
    columns = _with_capacity(CELL_COLUMNS, summary)
    frame = _with_open_loop(summary[list(columns)].rename(columns=columns), summary)
    return html_table(
        frame,
        left={"cell", "notes"},
        formats={
            OFFERED[1]: str,
            CORRECTED[1]: str,
            "errors": format_percent,
            "eff": lambda v: fmt(v, 2),
            "status": str,
            "server ms CPU/req": lambda v: fmt(v, 3),
        },
        badges="status",
        row_css=[str(s) for s in summary["status"]],
        keys=row_keys(summary),
    )


def sustained_table(table: pd.DataFrame, slo_ms: float | None) -> Table:
    """readings_openloop.sustained as shown: a rate never sustained reads 'none'."""
    limit = "under the SLO" if slo_ms is not None else "kept up with"
    frame = pd.DataFrame(
        {
            "scenario": table["scenario"],
            "loop": table["loop"],
            "variant": table["variant"],
            f"max rate {limit} (req/s)": [
                fmt(v, 0) if v > 0 else "none" for v in table["max_rate"]
            ],
            "p99 corr. there (ms)": table["p99_corrected_ms"],
            "model capacity (req/s)": [fmt(v, 0) for v in table["capacity_rps"]],
            "next rate offered (why it missed)": table["missed"].replace("", DASH),
        }
    )
    return html_table(
        frame,
        left={"scenario", "loop", "variant", "next rate offered (why it missed)"},
        keys=row_keys(table),
    )


def repeats_table(repeats: pd.DataFrame) -> Table:
    return html_table(repeats, left={"variant", "loop", "scenario", "load"}, keys=row_keys(repeats))


def table_text(summary: pd.DataFrame) -> str:
    """The cells as a plain-text table for the terminal."""
    if summary.empty:
        return "(no cells)"
    columns = _with_capacity(TERMINAL_COLUMNS, summary)
    if _is_open(summary).any():  # the offered rate and corrected p99 beside req/s and p99
        items = list(columns.items())
        at_rps, at_p99 = list(columns).index("rps") + 1, list(columns).index("p99_ms") + 1
        items.insert(at_p99, ("p99_corrected_ms", "p99 corr."))
        items.insert(at_rps, ("offered_rps", "offered"))
        columns = dict(items)
    frame = summary[list(columns)].copy()
    digits_of = {**TERMINAL_DIGITS, CAPACITY[0]: 1, "offered_rps": 0, "p99_corrected_ms": 1}
    for col, digits in digits_of.items():
        if col in frame:
            frame[col] = frame[col].map(lambda v, d=digits: fmt(float(v), d))
    if "offered_rps" in frame:
        frame.loc[~_is_open(summary), ["offered_rps", "p99_corrected_ms"]] = ""
    return frame.rename(columns=columns).to_string(index=False, max_colwidth=70)
