"""TechEmpower's six test types in a run's summary (scenarios te-plaintext ... te-fortunes):
which cells are theirs, each type's label, the best load level per strategy and how it
compares with the best strategy, and the chart's reading. Pure: summary frame in, frames and
sentences out; the report's tables are analysis/report/techempower.py's."""

from __future__ import annotations

import pandas as pd

from analysis import precision
from analysis.openloop import is_open
from analysis.readings.words import fmt

# Scenario name → the type's name in TechEmpower's words, in TechEmpower's order.
TYPES = {
    "te-plaintext": "plaintext",
    "te-json": "json",
    "te-db": "db",
    "te-queries": "queries",
    "te-updates": "updates",
    "te-fortunes": "fortunes",
}


def te_cells(summary: pd.DataFrame) -> pd.DataFrame:
    if summary.empty or "scenario_name" not in summary:
        return summary.iloc[0:0]
    return summary[summary["scenario_name"].isin(TYPES)]


def type_label(scenario_name: str, params: object) -> str:
    """'queries N=20', 'fortunes': the type and its N where it takes one."""
    name = TYPES[scenario_name]
    n = params.get("queries") if isinstance(params, dict) else None
    return f"{name} N={n}" if n is not None else name


def with_labels(cells: pd.DataFrame) -> pd.DataFrame:
    """cells with `te_type` (the type's label) and `strategy` (the variant, with its loop
    when the cells have several loops)."""
    loops = cells["loop"].nunique()
    return cells.assign(
        te_type=[type_label(s, p) for s, p in zip(cells["scenario_name"], cells["params"], strict=True)],
        strategy=[f"{v} ({lo})" if loops > 1 else v for v, lo in zip(cells["variant"], cells["loop"], strict=True)],
    )  # fmt: skip


def closed(cells: pd.DataFrame) -> pd.Series:
    return ~is_open(cells)


def best_per_strategy(cells: pd.DataFrame) -> pd.DataFrame:
    """Per type label and strategy, its best valid closed-loop cell (highest req/s), with
    `vs_best`, its req/s as a share of the type's best. What the chart draws and the readings
    say."""
    labelled = with_labels(cells)
    valid = labelled[labelled["valid"].astype(bool) & labelled["rps"].notna() & closed(labelled)]
    if valid.empty:
        return valid.assign(vs_best=pd.Series(dtype=float))
    best = valid.loc[valid.groupby(["te_type", "strategy"])["rps"].idxmax()]
    top = best.groupby("te_type")["rps"].transform("max")
    return best.assign(vs_best=best["rps"] / top).sort_values(
        ["te_type", "rps"], ascending=[True, False]
    )


def readings(best: pd.DataFrame) -> list[str]:
    """'queries N=20: coroutine (uvloop) best, 812 req/s at 64 users; fanout 0.97× (≈: the
    intervals overlap), ...'."""
    out = []
    for label, group in best.groupby("te_type", sort=False):
        lead = group.iloc[0]
        ci = (float(lead["rps_ci_low"]), float(lead["rps_ci_high"]))
        rest = "; ".join(
            f"{r.strategy} {r.vs_best:.2f}×"
            + ("" if precision.separated(ci, (r.rps_ci_low, r.rps_ci_high)) else " (≈)")
            for r in group.iloc[1:].itertuples()
        )
        flag = lead.get("generator_limited")
        limited = " (generator-limited: a lower bound)" if pd.notna(flag) and bool(flag) else ""
        out.append(
            f"{label}: {lead['strategy']} best, {fmt(float(lead['rps']))} req/s at "
            f"{int(lead['users'])} users{limited}" + (f"; {rest}" if rest else "") + "."
        )
    return out


def type_order(cells: pd.DataFrame) -> list[str]:
    """The type labels in TechEmpower's order, each type's N ascending."""
    labelled = with_labels(cells)
    keys = {
        label: (list(TYPES).index(name), p.get("queries", 0) if isinstance(p, dict) else 0)
        for label, name, p in zip(
            labelled["te_type"], labelled["scenario_name"], labelled["params"], strict=True
        )
    }
    return sorted(keys, key=keys.__getitem__)


def chart_args(summary: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """plot_te.te_bars's arguments."""
    cells = te_cells(summary)
    if cells.empty:
        return cells, []
    return best_per_strategy(cells), type_order(cells)


def read_chart(summary: pd.DataFrame) -> str:
    """The chart's one-line reading: the best strategy of each type."""
    best, order = chart_args(summary)
    if best.empty:
        return ""
    leads = best.groupby("te_type", sort=False).head(1).set_index("te_type")
    parts = [f"{t}: {leads.loc[t, 'strategy']}" for t in order if t in leads.index]
    return (
        "Best strategy per type (bars: each strategy's best load level): " + "; ".join(parts) + "."
    )
