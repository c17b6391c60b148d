"""The report's "TechEmpower test types": the cells of the six types (scenarios te-plaintext
... te-fortunes), one table per type and the reading of each (the best strategy, the others as
a ratio to it), and the frame the chart draws. Pure: summary frame in, plain data out."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from analysis import precision, table
from analysis import readings_openloop as openloop_text
from analysis.table import DASH, Table, fmt

# Scenario name → the type's name in TechEmpower's words, in TechEmpower's order.
TYPES = {
    "te-plaintext": "plaintext",
    "te-json": "json",
    "te-db": "db",
    "te-queries": "queries",
    "te-updates": "updates",
    "te-fortunes": "fortunes",
}
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


def _closed(cells: pd.DataFrame) -> pd.Series:
    if "offered_rps" not in cells:
        return pd.Series(True, index=cells.index)
    return cells["offered_rps"].isna()


def best_per_strategy(cells: pd.DataFrame) -> pd.DataFrame:
    """Per type label and strategy, its best valid closed-loop cell (highest req/s), with
    `vs_best`, its req/s as a share of the type's best. What the chart draws and the readings
    say."""
    labelled = with_labels(cells)
    valid = labelled[labelled["valid"].astype(bool) & labelled["rps"].notna() & _closed(labelled)]
    if valid.empty:
        return valid.assign(vs_best=pd.Series(dtype=float))
    best = valid.loc[valid.groupby(["te_type", "strategy"])["rps"].idxmax()]
    top = best.groupby("te_type")["rps"].transform("max")
    return best.assign(vs_best=best["rps"] / top).sort_values(
        ["te_type", "rps"], ascending=[True, False]
    )


def _ci(low: float, high: float) -> str:
    return f"{fmt(float(low))} – {fmt(float(high))}" if pd.notna(low) and pd.notna(high) else DASH


def _load(users: float, offered: float) -> str:
    if pd.notna(offered):
        return f"{openloop_text.rate(offered)} req/s offered"
    return f"{int(users)} users"


def _type_frame(cells: pd.DataFrame) -> pd.DataFrame:
    """One type's rows as shown, strongest load first within each strategy."""
    is_open = ~_closed(cells)
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


def _readings(best: pd.DataFrame) -> list[str]:
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
        items = _readings(best[best["scenario_name"] == scenario_name])
        opened = openloop_text.open_cells(mine) if "offered_rps" in mine else mine.iloc[0:0]
        if len(opened):
            ranked = openloop_text.sustained(opened, slo_ms)
            items += openloop_text.sustained_sentences(ranked, opened, slo_ms)
        frame = _type_frame(mine)
        shown = table.html_table(
            frame,
            left={"type", "strategy", "load"},
            formats={"status": str, "95% CI": str, "eff": lambda v: fmt(v, 2),
                     "server ms CPU/req": lambda v: fmt(v, 3)},
            badges="status",
            row_css=[str(s) for s in mine["status"]],
        )  # fmt: skip
        out.append(TypeTable(f"TechEmpower: {name}", shown, items))
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
