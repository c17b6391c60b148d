"""Runs → series: one per machine, configuration and metric, a point per run (the median of
the configuration's valid repeats in that run) with the run-level 95 % interval.

The interval: a Student t interval across the run's valid repeats when it has two or more;
with one, req/s keeps the cell's own block-bootstrap interval (summary.csv's rps_ci_low/high)
and other metrics are a point (no interval of their own)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.compare_stats import is_cpu_bound
from analysis.history.runs import HistoryRun
from analysis.model import CPU_SCENARIOS, WAIT_SCENARIOS
from analysis.precision import t_interval

REPEAT_SUFFIX = r"-r\d+$"
DEFAULT_METRICS = ("rps", "p99_ms", "server_cpu_ms_per_req")
# +1: higher is better (throughput); -1: lower is better (latency, cost)
DIRECTION = {"rps": 1, "achieved_rps": 1, "efficiency": 1, "offered_rps": 1}
# CPU time per request moves with the machine's speed whatever the workload.
CPU_COSTS = ("server_cpu_ms_per_req", "loadgen_cpu_ms_per_req")
KNOWN = sorted((*CPU_SCENARIOS, *WAIT_SCENARIOS, "mixed"), key=len, reverse=True)
POINT_COLUMNS = [
    "machine",
    "config",
    "metric",
    "run_index",
    "run_id",
    "started",
    "commit",
    "dirty",
    "value",
    "low",
    "high",
    "repeats",
    "speed_s",
    "cpu_bound",
]


def scenario_name(label: str) -> str:
    """A built-in scenario's name from its label (db-sleep-ms20 → db-sleep); a user's file's
    label is its own name."""
    for name in KNOWN:
        if label == name or label.startswith(f"{name}-"):
            return name
    return label


def direction(metric: str) -> int:
    return DIRECTION.get(metric, -1)


def run_points(run: HistoryRun, index: int, metrics: tuple[str, ...]) -> list[dict]:
    s = run.summary
    if s.empty:
        return []
    valid = s[s["valid"].astype(str).str.lower().isin(["true", "1"])]
    configs = valid["cell_id"].astype(str).str.replace(REPEAT_SUFFIX, "", regex=True)
    out = []
    for config, group in valid.groupby(configs, sort=False):
        first = group.iloc[0]
        open_loop = pd.notna(first["offered_rps"])
        cpu_scenario = is_cpu_bound(scenario_name(str(first["scenario"]))) and not open_loop
        for metric in metrics:
            values = pd.to_numeric(group[metric], errors="coerce").to_numpy(float)
            values = values[np.isfinite(values)]
            if not len(values):
                continue
            lo, hi = _interval(metric, values, group)
            out.append(
                {
                    "machine": run.machine,
                    "config": config,
                    "metric": metric,
                    "run_index": index,
                    "run_id": run.run_id,
                    "started": run.started,
                    "commit": run.commit,
                    "dirty": run.dirty,
                    "value": float(np.median(values)),
                    "low": lo,
                    "high": hi,
                    "repeats": len(values),
                    "speed_s": run.speed_s,
                    "cpu_bound": cpu_scenario or metric in CPU_COSTS,
                }
            )
    return out


def _interval(metric: str, values: np.ndarray, group: pd.DataFrame) -> tuple[float, float]:
    if len(values) >= 2:
        return t_interval(values)
    if metric == "rps":
        lo = float(pd.to_numeric(group["rps_ci_low"], errors="coerce").iloc[0])
        hi = float(pd.to_numeric(group["rps_ci_high"], errors="coerce").iloc[0])
        if math.isfinite(lo) and math.isfinite(hi):
            return lo, hi
    return float(values[0]), float(values[0])


def build_points(runs: list[HistoryRun], metrics: tuple[str, ...]) -> pd.DataFrame:
    """Every point of every series (POINT_COLUMNS); run_index counts a machine's runs in time
    order, so each machine's series has its own axis."""
    rows: list[dict] = []
    per_machine: dict[str, int] = {}
    for run in runs:
        index = per_machine.get(run.machine, 0)
        per_machine[run.machine] = index + 1
        rows += run_points(run, index, metrics)
    return pd.DataFrame(rows, columns=POINT_COLUMNS)
