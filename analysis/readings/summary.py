"""One-sentence readings under each chart: what a person should take away from it, stated
with the numbers. Pure functions of the summary (and, for stability, the window requests);
they never draw and never read files."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from analysis import aggregate, cellstats
from analysis.readings.words import family, fmt
from catalog import workloads
from catalog.strategies import concurrent_fanout, forks

IMBALANCE_SHARE = 0.8  # a forked worker doing more than this share did the work alone
LOW_EFFICIENCY = 0.6  # readings call out valid cells this far below their bound
NOTHING = "No valid cell to read."


def _top_load(summary: pd.DataFrame) -> pd.DataFrame:
    """The valid cells at the highest load of their scenario and loop."""
    ok = summary[summary["valid"] & summary["rps"].notna()]
    if ok.empty:
        return ok
    idx = ok.groupby(["scenario", "loop"])["users"].transform("max") == ok["users"]
    return ok[idx]


def read_throughput(summary: pd.DataFrame, shares: dict[str, float] | None = None) -> str:
    """Best and worst strategy per workload at the highest load, the efficiency range, and
    the valid cells furthest below their bound. shares: cell_id → the busiest process's
    share of a forking server's CPU (explains a lopsided multiprocess cell)."""
    top = _top_load(summary)
    if top.empty:
        return NOTHING
    parts, loops = [], summary["loop"].nunique()
    for (scenario, loop), group in top.groupby(["scenario", "loop"]):
        best = group.loc[group["rps"].idxmax()]
        worst = group.loc[group["rps"].idxmin()]
        ratio = best["rps"] / worst["rps"] if worst["rps"] else math.nan
        parts.append(
            f"{family(scenario, loop, loops)} at {int(best['users'])} users: {best['variant']} {best['rps']:,.0f} req/s"
            + (f", {ratio:,.1f}× {worst['variant']}" if best["variant"] != worst["variant"] else "")
        )
    valid = summary[summary["valid"] & summary["efficiency"].notna()]
    tail = ""
    if len(valid):
        eff = valid["efficiency"]
        tail = f" Efficiency against the bound ranged {eff.min():.2f}–{eff.max():.2f}."
        low = valid[eff < LOW_EFFICIENCY].sort_values("efficiency")
        if len(low):
            tail += (
                " Far below their bound: "
                + ", ".join(_low_reason(r, shares or {}) for r in low.head(3).itertuples())
                + "."
            )
    return "; ".join(parts) + "." + tail


def _low_reason(row: Any, shares: dict[str, float]) -> str:
    text = f"{row.variant} on {row.scenario} at {int(row.users)} users ({row.efficiency:.2f}"
    share = shares.get(row.cell_id, math.nan)
    if forks(row.strategy) and share > IMBALANCE_SHARE:
        text += (
            f": one process did {share:.0%} of the work, because kept-alive connections stay"
            " with the process that accepted them"
        )
    return text + ")"


def read_latency(summary: pd.DataFrame) -> str:
    """The spread of p99 between strategies at the highest load of each workload."""
    top = _top_load(summary)
    if top.empty:
        return NOTHING
    parts, loops = [], summary["loop"].nunique()
    for (scenario, loop), group in top.groupby(["scenario", "loop"]):
        lo = group.loc[group["p99_ms"].idxmin()]
        hi = group.loc[group["p99_ms"].idxmax()]
        if group["variant"].nunique() == 1:  # no spread between strategies to read
            p99 = f"{lo['p99_ms']:,.1f}"
            if len(group) > 1:  # its repeats
                p99 += f"–{hi['p99_ms']:,.1f}"
            parts.append(
                f"{family(scenario, loop, loops)}: p99 {p99} ms "
                f"({lo['variant']}, the only valid strategy)"
            )
            continue
        parts.append(
            f"{family(scenario, loop, loops)}: p99 from {lo['p99_ms']:,.1f} ms ({lo['variant']}) to "
            f"{hi['p99_ms']:,.1f} ms ({hi['variant']})"
        )
    return "At the highest load, " + "; ".join(parts) + "."


def read_spectrum(summary: pd.DataFrame) -> str:
    """The valid cell whose p99.9 is the largest multiple of its median."""
    ok = summary[summary["valid"] & (summary["p50_ms"] > 0)]
    if ok.empty:
        return NOTHING
    tail = ok.assign(ratio=ok["p999_ms"] / ok["p50_ms"])
    worst = tail.loc[tail["ratio"].idxmax()]
    return (
        f"The heaviest tail is {worst['variant']} on {worst['scenario']} at "
        f"{int(worst['users'])} users: p99.9 is {worst['ratio']:.1f}× its median."
    )


def read_series(summary: pd.DataFrame, windows: Mapping[str, pd.DataFrame]) -> str:
    """How steady per-second throughput was in the cells the time-series chart shows: the
    largest coefficient of variation over the whole seconds of any shown cell's window.
    An idle second counts as zero, so a stall shows as instability instead of vanishing.
    windows: cell_id → cellstats.window_series of the cell's window requests."""
    cvs = []
    for cells in aggregate.spectrum_cells(summary).values():
        for row in cells.itertuples():
            if row.cell_id not in windows:
                continue
            cv = cellstats.stability_cv(windows[row.cell_id])
            if math.isfinite(cv):
                cvs.append(cv)
    if not cvs:
        return "Too few whole seconds in the window to judge stability."
    return (
        f"After warm-up, per-second throughput varied by at most {max(cvs):.0%} "
        "(coefficient of variation) in the cells shown."
    )


def read_cpu(summary: pd.DataFrame) -> str:
    """The busiest server, and the idlest one at the highest load (waiting, not computing)."""
    ok = summary[summary["valid"] & summary["server_cpu_pct"].notna()]
    if ok.empty:
        return "No CPU samples to read."
    top = ok.loc[ok["server_cpu_pct"].idxmax()]
    low = _top_load(summary)
    low = low[low["server_cpu_pct"].notna()]
    tail = ""
    if len(low):
        idle = low.loc[low["server_cpu_pct"].idxmin()]
        tail = (
            f"; {idle['variant']} on {idle['scenario']} used only "
            f"{idle['server_cpu_pct']:.0f}% at {int(idle['users'])} users (waiting, not computing)"
        )
    return (
        f"Busiest: {top['variant']} on {top['scenario']} at {int(top['users'])} users used "
        f"{top['server_cpu_pct']:.0f}% of a core{tail}."
    )


def read_fanout(summary: pd.DataFrame) -> str:
    """At the most upstream calls: the best median of strategies that await the calls
    together against the best of those that make them one after another."""
    fans = summary["scenario_name"].map(workloads.fans_out).astype(bool)
    fan = summary[fans & summary["valid"]].copy()
    if fan.empty:
        return "No valid fan-out cell."
    pairs = zip(fan["scenario_name"], fan["params"], strict=True)
    fan["calls"] = [workloads.calls(name, params) for name, params in pairs]
    most = fan[fan["calls"] == fan["calls"].max()]
    together = most["strategy"].map(concurrent_fanout).astype(bool)
    conc = most[together]["p50_ms"].min()
    seq = most[~together]["p50_ms"].min()
    return (
        f"With {int(most['calls'].iloc[0])} calls per request, the best concurrent median is "
        f"{fmt(conc)} ms against {fmt(seq)} ms for the best sequential strategy."
    )


def read_ranking(ranking: pd.DataFrame) -> str:
    """The winners of each workload, ties said as ties: the data decides, not the order."""
    if ranking.empty:
        return "No valid cell, so no ranking."
    parts, unseparated = [], []
    loops = ranking["loop"].nunique()
    for (scenario, loop), group in ranking.groupby(["scenario", "loop"], sort=False):
        top = group[group["rank"] == 1]
        names = " ≈ ".join(top["variant"])
        name = family(scenario, loop, loops)
        parts.append(f"{name} → {names} ({top['rps'].max():,.0f} req/s)")
        if len(group) > 1 and (group["rank"] == 1).all():
            unseparated.append(name)
    text = "Best valid strategy per workload: " + "; ".join(parts) + "."
    if unseparated:
        text += (
            " Not separated at 95 % confidence (their intervals overlap): "
            + ", ".join(unseparated)
            + "."
        )
    return text
