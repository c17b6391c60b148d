"""A suite run across [[environments]] (interpreters, Tornado and uvloop versions): each
configuration's req/s and p99 in every environment, and what changed against the first
environment, with intervals (the report says it: analysis/report/environments.py). The first environment is the base; each other one is compared
with it configuration by configuration by compare's own method (analysis/compare/stats.py:
repeats as samples, Welch intervals, at least 3 valid repeats a side), within one run, so the
machine is the same for both sides and a significant change is the environment's."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from analysis import precision
from analysis.compare.stats import NOT_ENOUGH, compare_tables

# Both sides ran on the same machine in the same run, interleaved: the machine did not change
# between them (one loop reading for both).
SAME_MACHINE = (1.0, 1.0)


def _side(summary: pd.DataFrame, name: str) -> pd.DataFrame:
    """One environment's cells, matched to the others' by their configuration without it."""
    mine = summary[summary["environment"] == name]
    return mine.assign(config_id=mine["across_environments"])


def per_environment(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration and environment: valid repeats, mean req/s with its 95 %
    interval (precision.t_interval across repeats), mean p99."""
    valid = summary[summary["valid"].astype(bool) & (summary["environment"] != "")]
    rows = []
    for (config, env), group in valid.groupby(["across_environments", "environment"], sort=False):
        rps = group["rps"].to_numpy(float)
        lo, hi = precision.t_interval(rps) if len(rps) > 1 else (math.nan, math.nan)
        rows.append(
            {
                "configuration": config,
                "environment": env,
                "repeats": len(rps),
                "rps": float(rps.mean()),
                "rps_ci_low": lo,
                "rps_ci_high": hi,
                "p99_ms": float(group["p99_ms"].mean()),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "configuration",
            "environment",
            "repeats",
            "rps",
            "rps_ci_low",
            "rps_ci_high",
            "p99_ms",
        ],
    )


@dataclass(frozen=True)
class Change:
    """One configuration that moved significantly in an environment against the base."""

    environment: str
    configuration: str
    metric: str  # "req/s" or "p99"
    change: float  # relative
    low: float
    high: float


def changes(summary: pd.DataFrame, base: str, other: str) -> tuple[list[Change], int, int]:
    """The configurations whose req/s or p99 moved significantly in `other` against `base`,
    how many configurations both had, and how many of those had enough repeats to judge."""
    a, b = _side(summary, base), _side(summary, other)
    if a.empty or b.empty:
        return [], 0, 0
    rows = compare_tables(a, b, SAME_MACHINE, SAME_MACHINE, cause="environment").rows
    judged = int((rows["rps_verdict"] != NOT_ENOUGH).sum()) if len(rows) else 0
    out = []
    for r in rows.itertuples(index=False):
        for metric, name in (("rps", "req/s"), ("p99", "p99")):
            direction = getattr(r, f"{metric}_direction")
            if direction in ("faster", "slower"):
                out.append(
                    Change(
                        other,
                        str(r.config),
                        name,
                        float(getattr(r, f"{metric}_change")),
                        float(getattr(r, f"{metric}_ci_lo")),
                        float(getattr(r, f"{metric}_ci_hi")),
                    )
                )
    return out, len(rows), judged
