"""The report's "TechEmpower test types": one table per type with the readings under it
(analysis/readings/techempower.py finds the cells and the best strategy)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from analysis.openloop import open_cells
from analysis.readings.openloop import sustained, sustained_sentences
from analysis.readings.techempower import (
    TYPES,
    best_per_strategy,
    closed,
    readings,
    te_cells,
    with_labels,
)
from analysis.readings.words import DASH, fmt, format_rate
from analysis.report.tables import Table, html_table

NOTE = (
    "TechEmpower's six test types as its FrameworkBenchmarks specifies them (verified before "
    "the load as its verifier checks them), on every strategy with its own database driver. "
    "req/s with its 95% interval; p99 of service latency; p99 corr. = corrected for "
    "coordinated omission (open loop: from each request's intended send time), which "
    "TechEmpower never measured; server ms CPU/req by the utilization law; eff = req/s ÷ the "
    "model's bound where one exists (updates has none). Invalid and failed cells are listed, "
    "never ranked. Under each table: the best strategy, the others as a share of it, (≈) "
    "where their intervals overlap the best's (the data cannot separate them)."
)


@dataclass(frozen=True)
class TypeTable:
    """One type's table and its readings (best strategy, ratios to it)."""

    title: str
    table: Table
    items: list[str] = field(default_factory=list)


def _ci(low: float, high: float) -> str:
    return f"{fmt(float(low))} – {fmt(float(high))}" if pd.notna(low) and pd.notna(high) else DASH


def _load(users: float, offered: float) -> str:
    if pd.notna(offered):
        return f"{format_rate(offered)} req/s offered"
    return f"{int(users)} users"


def _type_frame(cells: pd.DataFrame) -> pd.DataFrame:
    """One type's rows as shown, strongest load first within each strategy."""
    is_open = ~closed(cells)
    frame = pd.DataFrame(
        {
            "type": cells["te_type"],
            "strategy": cells["strategy"],
            "load": [
                _load(u, o)
                for u, o in zip(cells["users"], cells.get("offered_rps", math.nan), strict=True)
            ],
            "status": cells["status"],
            "req/s": cells["rps"],
            "95% CI": [_ci(lo, hi) for lo, hi in zip(cells["rps_ci_low"], cells["rps_ci_high"], strict=True)],
            "p99 ms": cells["p99_ms"],
            "p99 corr. ms": cells["p99_corrected_ms"].where(is_open) if "p99_corrected_ms" in cells else math.nan,
            "server ms CPU/req": cells["server_cpu_ms_per_req"],
            "eff": cells["efficiency"],
        }
    )  # fmt: skip
    if not is_open.any():
        frame = frame.drop(columns="p99 corr. ms")
    if not frame["eff"].notna().any():
        frame = frame.drop(columns="eff")
    if frame["type"].nunique() == 1:
        frame = frame.drop(columns="type")
    return frame


def type_tables(summary: pd.DataFrame, slo_ms: float | None) -> list[TypeTable]:
    """One table per TechEmpower type the run measured, in TechEmpower's order."""
    cells = te_cells(summary)
    if cells.empty:
        return []
    labelled = with_labels(cells).sort_values(
        ["te_type", "strategy", "offered_rps", "users"] if "offered_rps" in cells else ["te_type", "strategy", "users"],
        na_position="first",
    )  # fmt: skip
    best = best_per_strategy(cells)
    out = []
    for scenario_name, name in TYPES.items():
        mine = labelled[labelled["scenario_name"] == scenario_name]
        if mine.empty:
            continue
        items = readings(best[best["scenario_name"] == scenario_name])
        opened = open_cells(mine)
        if len(opened):
            ranked = sustained(opened, slo_ms)
            items += sustained_sentences(ranked, opened, slo_ms)
        frame = _type_frame(mine)
        shown = html_table(
            frame,
            left={"type", "strategy", "load"},
            formats={"status": str, "95% CI": str, "eff": lambda v: fmt(v, 2),
                     "server ms CPU/req": lambda v: fmt(v, 3)},
            badges="status",
            row_css=[str(s) for s in mine["status"]],
        )  # fmt: skip
        out.append(TypeTable(f"TechEmpower: {name}", shown, items))
    return out
