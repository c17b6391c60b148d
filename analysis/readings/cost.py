"""CPU cost per request: which cells the cost chart compares, and the sentence under it.

The server's CPU per request (utilization law: busy fraction ÷ req/s) stays a fair comparison
where req/s does not: when the load generator, not the server, set the pace, req/s only says
how fast Locust was, but every request still cost the server what it cost. So the cost chart
keeps invalid and generator-limited cells, and leaves out only cells that measured nothing
(failed, interrupted, no requests, no CPU samples)."""

from __future__ import annotations

import math

import pandas as pd

from analysis.readings.words import format_change, format_cost_ms
from catalog.strategies import LOOPS, VARIANT_NAMES
from record.records import MEASURED_STATUSES

COST = "server_cpu_ms_per_req"
COST_COLUMNS = ["scenario", "variant", "loop", "users", "cost_ms", "valid", "limited", "cells"]
SAME_COST = 1.05  # strategies whose costs differ less than this are said to cost the same
MAX_COMPARISONS = 4  # loop comparisons in the reading; the chart shows every one
NO_COST = "No cell has CPU samples, so no CPU cost per request."


def _measured(summary: pd.DataFrame) -> pd.DataFrame:
    if COST not in summary:
        return summary.iloc[0:0]
    cost = pd.to_numeric(summary[COST], errors="coerce")
    keep = summary["status"].isin(MEASURED_STATUSES) & (summary["requests"] > 0)
    return summary[keep & (cost > 0) & cost.map(math.isfinite)]


def _levels(scenario: pd.DataFrame) -> dict[tuple[str, str], int]:
    """(variant, loop) → the load level its cost is read at: the highest level every bar of
    the scenario reached; failing that, the highest both loops of a variant reached; failing
    that, the bar's own highest. Per-request overhead shrinks under load (several requests per
    event-loop wake-up), so bars compare at one level wherever the data allows."""
    sets = {k: set(g["users"]) for k, g in scenario.groupby(["variant", "loop"])}
    common = set.intersection(*sets.values())
    if common:
        return dict.fromkeys(sets, max(common))
    out = {}
    for variant in {v for v, _ in sets}:
        mine = {k: s for k, s in sets.items() if k[0] == variant}
        shared = set.intersection(*mine.values())
        out.update({k: max(shared or s) for k, s in mine.items()})
    return out


def cost_table(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per scenario, variant and loop: the mean server CPU ms per request of its
    repeats at the chosen load level (_levels), whether every one of those cells was valid for
    throughput and whether any was generator-limited."""
    measured = _measured(summary)
    rows = []
    for scenario, group in measured.groupby("scenario", sort=True):
        for (variant, loop), users in _levels(group).items():
            cells = group[
                (group["variant"] == variant) & (group["loop"] == loop) & (group["users"] == users)
            ]
            limited = cells.get("generator_limited", pd.Series([False]))
            rows.append(
                {
                    "scenario": scenario,
                    "variant": variant,
                    "loop": loop,
                    "users": int(users),
                    "cost_ms": float(cells[COST].astype(float).mean()),
                    "valid": bool(cells["valid"].all()),
                    "limited": bool(limited.fillna(False).astype(bool).any()),
                    "cells": len(cells),
                }
            )
    return pd.DataFrame(rows, columns=COST_COLUMNS)


def _loop_pairs(table: pd.DataFrame) -> list[tuple[pd.Series, pd.Series]]:
    """(uvloop row, asyncio row) of every variant and scenario measured on both at one load."""
    first, second = LOOPS[1], LOOPS[0]
    pairs = []
    for _, group in table.groupby(["scenario", "variant"], sort=True):
        by_loop = {row["loop"]: row for _, row in group.iterrows()}
        both = first in by_loop and second in by_loop
        if both and by_loop[first]["users"] == by_loop[second]["users"]:
            pairs.append((by_loop[first], by_loop[second]))
    return pairs


def _change(pair: tuple[pd.Series, pd.Series]) -> float:
    """Percent change of CPU per request from the second loop of a pair to the first."""
    return (pair[0]["cost_ms"] / pair[1]["cost_ms"] - 1) * 100


def _pair_text(new: pd.Series, old: pd.Series) -> str:
    return (
        f"{new['variant']} on {new['scenario']}: {new['loop']} {format_cost_ms(new['cost_ms'])} ms CPU"
        f" per request vs {old['loop']} {format_cost_ms(old['cost_ms'])}"
        f" ({format_change(_change((new, old)))})"
    )


def _order(variant: str) -> int:
    return VARIANT_NAMES.index(variant) if variant in VARIANT_NAMES else len(VARIANT_NAMES)


def _loops_text(pairs: list[tuple[pd.Series, pd.Series]]) -> str:
    """Per scenario the pair that differs most (ties: the first strategy in the documented
    order), then the range over every pair when there are more than shown."""
    by_scenario: dict[str, list[tuple[pd.Series, pd.Series]]] = {}
    for pair in pairs:
        by_scenario.setdefault(str(pair[0]["scenario"]), []).append(pair)
    parts = []
    for scenario in sorted(by_scenario)[:MAX_COMPARISONS]:
        pick = max(
            by_scenario[scenario],
            key=lambda p: (round(abs(_change(p)), 1), -_order(str(p[0]["variant"]))),
        )
        parts.append(_pair_text(*pick))
    text = "; ".join(parts) + "."
    if len(pairs) > len(parts):
        changes = [_change(p) for p in pairs]
        lo, hi = min(changes), max(changes)
        span = (
            format_change(lo)
            if round(lo) == round(hi)
            else f"{format_change(lo)} to {format_change(hi)}"
        )
        cheaper = sum(c < 0 for c in changes)
        text += (
            f" Over all {len(pairs)} pairs in the chart, {LOOPS[1]} changed CPU per request by"
            f" {span} ({cheaper} cheaper)."
        )
    return text


def _spread_text(scenario: str, group: pd.DataFrame) -> str:
    low = group.loc[group["cost_ms"].idxmin()]
    high = group.loc[group["cost_ms"].idxmax()]
    ratio = high["cost_ms"] / low["cost_ms"]
    if ratio < SAME_COST:
        return (
            f"{scenario}: every strategy about {format_cost_ms(low['cost_ms'])} ms CPU per request"
        )
    return (
        f"{scenario}: cheapest {low['variant']} {format_cost_ms(low['cost_ms'])} ms CPU per request, "
        f"dearest {high['variant']} {format_cost_ms(high['cost_ms'])} ({ratio:.1f}×)"
    )


def _caveat(used: pd.DataFrame) -> str:
    """The sentence that says where cost, not req/s, is the comparison to trust."""
    untrusted = used[~used["valid"] | used["limited"]]
    if untrusted.empty:
        return ""
    names = sorted({f"{r.variant} on {r.scenario}" for r in untrusted.itertuples()})
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return (
        f" Throughput is invalid or generator-limited for {shown}; CPU per request still"
        " compares there (the server paid it, whoever set the pace)."
    )


def read_cost(table: pd.DataFrame) -> str:
    """uvloop against asyncio where a strategy ran on both, else the cheapest and dearest
    strategy of each scenario; then which bars' req/s cannot be trusted."""
    if table.empty:
        return NO_COST
    pairs = _loop_pairs(table)
    if pairs:
        text = _loops_text(pairs)
    else:
        parts = [_spread_text(str(s), g) for s, g in table.groupby("scenario", sort=True)]
        text = "; ".join(parts) + "."
    return text + _caveat(table)
