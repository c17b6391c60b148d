"""Open-loop cells (loadgen/pacing.py): what was offered, what was achieved, and latency two
ways. Service latency runs from the actual send to the last byte; corrected latency runs from
the request's slot in the schedule (its intended start) to the last byte, as wrk2 reports it,
so the time a request waited to be sent because the server had fallen behind counts.

Pure functions on frames, like aggregate.py."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from record.window import completed_at, late

# Achieved below this share of the offered rate: "target rate not reached".
REACHED_SHARE = 0.95
CORRECTED = {"p50_corrected_ms": 50.0, "p99_corrected_ms": 99.0, "p999_corrected_ms": 99.9}
OPEN_COLUMNS = ["offered_rps", "achieved_rps", *CORRECTED, "late_pct"]


def open_loop_stats(
    requests: pd.DataFrame, rank: object, slots: pd.DataFrame | None = None
) -> dict[str, float]:
    """Corrected percentiles (nearest rank), the share of late sends and of slots left
    unanswered, for one open-loop cell. From its slots (harness/outcome.py: every slot of the
    schedule inside the window, a slot with no answer counted as waiting until the load
    stopped) when the cell has them; else from its answered window requests."""
    empty = {**dict.fromkeys(CORRECTED, math.nan), "late_pct": math.nan, "unanswered_pct": math.nan}
    if slots is not None and len(slots):
        corrected = np.sort(slots["corrected_ms"].to_numpy(float))
        behind = slots["late"].to_numpy(bool)
        unanswered = float((~slots["answered"].to_numpy(bool)).mean() * 100.0)
    elif "intended_start" in requests and requests["intended_start"].notna().any():
        start = requests["start"].to_numpy(float)
        intended = requests["intended_start"].to_numpy(float)
        behind = late(start, intended)
        ok = requests["ok"].to_numpy(bool)
        done = completed_at(start, requests["latency_ms"].to_numpy(float))
        corrected = np.sort(((done - intended) * 1000.0)[ok])
        unanswered = math.nan
    else:
        return empty
    out = {"late_pct": float(behind.mean() * 100.0) if len(behind) else math.nan}
    out["unanswered_pct"] = unanswered
    for col, pct in CORRECTED.items():
        n = len(corrected)
        out[col] = float(corrected[rank(pct, n) - 1]) if n else math.nan  # type: ignore[operator]
    return out


def add_open_loop(summary: pd.DataFrame) -> pd.DataFrame:
    """offered_rps, achieved_rps and utilisation for open-loop cells, and their bound: the
    model's capacity (X_max, with every allowed request in flight) capped by what was offered,
    so efficiency is achieved ÷ min(offered, capacity). Closed-loop cells keep theirs, with the
    open-loop columns empty."""
    out = summary.copy()
    rate = out["rate"] if "rate" in out else pd.Series(math.nan, index=out.index)
    open_ = rate.notna()
    out["offered_rps"] = rate.where(open_)
    out["achieved_rps"] = out["rps"].where(open_)
    out["capacity_rps"] = out["expected_rps"].where(open_)
    out["utilisation"] = out["offered_rps"] / out["capacity_rps"]
    out.loc[open_, "expected_rps"] = np.fmin(rate[open_], out.loc[open_, "capacity_rps"])
    out["efficiency"] = out["rps"] / out["expected_rps"]
    for col in [*CORRECTED, "late_pct", "unanswered_pct"]:
        if col not in out:
            out[col] = math.nan
    return out


def reached(achieved: float, offered: float) -> bool:
    return not (achieved < REACHED_SHARE * offered)


def is_open(summary: pd.DataFrame) -> pd.Series:
    """Which cells offered an open loop (the summary's open_loop column, from the cell's own
    record: a rate was set)."""
    return summary["open_loop"].astype(bool)


def open_cells(summary: pd.DataFrame) -> pd.DataFrame:
    """The open-loop cells."""
    return summary[is_open(summary)]


def closed_cells(summary: pd.DataFrame) -> pd.DataFrame:
    """The closed-loop cells: the only ones a chart or table 'per users' may show (an
    open-loop cell's users is its cap on requests in flight, the same at every rate)."""
    return summary[~is_open(summary)]


def slo_ranking(summary: pd.DataFrame, slo_ms: float) -> pd.DataFrame:
    """Per scenario (and loop): the highest offered rate each variant sustained, meaning a
    valid open-loop cell that reached its target with corrected p99 within the SLO; ordered
    best first. A variant that sustained no rate is listed with 0."""
    cols = ["scenario", "loop", "variant", "max_rate", "p99_corrected_ms", "capacity_rps"]
    cells = open_cells(summary)
    if cells.empty:
        return pd.DataFrame(columns=cols)
    ok = (
        cells["valid"]
        & (cells["p99_corrected_ms"] <= slo_ms)
        & (cells["achieved_rps"] >= REACHED_SHARE * cells["offered_rps"])
    )
    rows = []
    for (scenario, loop, variant), group in cells.groupby(["scenario", "loop", "variant"]):
        good = group[ok.loc[group.index]]
        best = good.loc[good["offered_rps"].idxmax()] if len(good) else None
        rows.append(
            {
                "scenario": scenario,
                "loop": loop,
                "variant": variant,
                "max_rate": float(best["offered_rps"]) if best is not None else 0.0,
                "p99_corrected_ms": float(best["p99_corrected_ms"])
                if best is not None
                else math.nan,
                "capacity_rps": float(group["capacity_rps"].max()),
            }
        )
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["scenario", "loop", "max_rate"], ascending=[True, True, False])
