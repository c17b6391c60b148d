"""Runs → series: one per machine, configuration and metric, a point per run (the median of
the configuration's valid repeats in that run) with the run-level 95 % interval.

The interval: a Student t interval across the run's valid repeats when it has two or more;
with one, req/s keeps the cell's own block-bootstrap interval (summary.csv's rps_ci_low/high)
and other metrics are a point (no interval of their own)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.compare.stats import is_cpu_bound
from analysis.history.runs import HistoryRun
from catalog.workloads import WORKLOAD_NAMES

# Summaries before schema 5 have no config_id column: their configuration is the cell id
# without its repeat suffix.
REPEAT_SUFFIX = r"-r\d+$"
DEFAULT_METRICS = ("rps", "p99_ms", "server_cpu_ms_per_req")
# +1: higher is better (throughput); -1: lower is better (latency, cost)
DIRECTION = {"rps": 1, "achieved_rps": 1, "efficiency": 1, "offered_rps": 1}
# CPU time per request moves with the machine's speed whatever the workload.
CPU_COSTS = ("server_cpu_ms_per_req", "loadgen_cpu_ms_per_req")
KNOWN = sorted(WORKLOAD_NAMES, key=len, reverse=True)
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


def run_points(run: HistoryRun, index: int, metrics: tuple[str, ...]) -> list[pd.DataFrame]:
    """One run's points (a frame per metric), computed per column: a history reads
    thousands of cells, so nothing here loops over configurations."""
    from scipy import special  # scipy.stats would add seconds to every `history`

    s = run.summary

    def true(column: str) -> pd.Series:  # a csv's booleans; empty in runs older than it
        return s[column].astype(str).str.lower().isin(["true", "1"])

    # A contended cell's figure may be the machine's (analysis/validity.py): it is no point of
    # a configuration's history, so no change is ever found, nor blamed on the code, from it.
    valid = s[true("valid") & ~true("contended")]
    if valid.empty:
        return []
    config = valid["cell_id"].astype(str).str.replace(REPEAT_SUFFIX, "", regex=True)
    if "config_id" in valid:
        ids = valid["config_id"]
        config = ids.where(ids.notna() & (ids.astype(str) != ""), config).astype(str)
    first = valid.assign(config=config.to_numpy()).drop_duplicates("config").set_index("config")
    open_loop = pd.to_numeric(first["offered_rps"], errors="coerce").notna()
    cpu_scenario = first["scenario"].astype(str).map(scenario_name).map(is_cpu_bound) & ~open_loop
    out = []
    for metric in metrics:
        values = pd.to_numeric(valid[metric], errors="coerce").to_numpy(float)
        frame = pd.DataFrame({"config": config.to_numpy(), "value": values}).dropna()
        if frame.empty:
            continue
        g = frame.groupby("config", sort=False)["value"]
        n, mean, sd, median = g.count(), g.mean(), g.std(ddof=1), g.median()
        with np.errstate(invalid="ignore", divide="ignore"):
            half = special.stdtrit(np.maximum(n - 1, 1), 0.975) * sd / np.sqrt(n)
        low = np.where(n >= 2, mean - half, median)
        high = np.where(n >= 2, mean + half, median)
        if metric == "rps":  # one repeat: the cell's own block-bootstrap interval
            own_lo = pd.to_numeric(first["rps_ci_low"], errors="coerce").reindex(n.index)
            own_hi = pd.to_numeric(first["rps_ci_high"], errors="coerce").reindex(n.index)
            one = (n == 1).to_numpy() & own_lo.notna().to_numpy() & own_hi.notna().to_numpy()
            low = np.where(one, own_lo.to_numpy(float), low)
            high = np.where(one, own_hi.to_numpy(float), high)
        cpu = cpu_scenario.reindex(n.index).to_numpy(bool) | (metric in CPU_COSTS)
        out.append(
            pd.DataFrame(
                {
                    "machine": run.machine,
                    "config": n.index.to_numpy(),
                    "metric": metric,
                    "run_index": index,
                    "run_id": run.run_id,
                    "started": run.started,
                    "commit": run.commit,
                    "dirty": run.dirty,
                    "value": median.to_numpy(float),
                    "low": low,
                    "high": high,
                    "repeats": n.to_numpy(int),
                    "speed_s": run.speed_s,
                    "cpu_bound": cpu,
                }
            )
        )
    return out


def build_points(runs: list[HistoryRun], metrics: tuple[str, ...]) -> pd.DataFrame:
    """Every point of every series (POINT_COLUMNS); run_index counts a machine's runs in time
    order, so each machine's series has its own axis."""
    frames: list[pd.DataFrame] = []
    per_machine: dict[str, int] = {}
    for run in runs:
        index = per_machine.get(run.machine, 0)
        per_machine[run.machine] = index + 1
        frames += run_points(run, index, metrics)
    if not frames:
        return pd.DataFrame(columns=POINT_COLUMNS)
    return pd.concat(frames, ignore_index=True)[POINT_COLUMNS]
