"""Synthetic histories in the real results layout (run.json and summary.csv per run), for the
history's tests and for timing it: ``python -m analysis.history.synthetic DIR [--runs 50]``
writes runs of the quick suite's 45 configurations with noise, and
``python run_bench.py history DIR`` reads them."""

from __future__ import annotations

import argparse
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from record import io
from record.layout import RunLayout
from record.schema import SUMMARY_COLUMNS

T0 = 1_700_000_000.0
DAY_S = 86_400.0
# The quick suite's size (45 configurations): five strategies on sleep, fanout and cpu at two
# load levels, and on hello at three.
QUICK_VARIANTS = ("sync", "coroutine", "threadpool", "fanout", "multiprocess")
QUICK_SCENARIOS = (
    ("sleep-ms50", (10, 50)),
    ("fanout-ms50-n4", (10, 50)),
    ("cpu-n20000", (1, 4)),
    ("hello", (10, 50, 100)),
)
MACHINE = {
    "cpu": {"model": "Synthetic CPU", "cores": 2, "usable_cores": 2, "machine": "x86_64"},
    "memory": {"total_bytes": 8 * 2**30},
}
# Columns of schema 1 (before rps_ci_low was appended): what an old run's summary.csv holds.
SCHEMA1_COLUMNS = SUMMARY_COLUMNS[: SUMMARY_COLUMNS.index("rps_ci_low")]


@dataclass(frozen=True)
class Config:
    variant: str
    scenario: str  # label
    users: int
    rps: float
    p99_ms: float
    cpu_ms: float  # server CPU per request

    @property
    def cell_base(self) -> str:
        return f"{self.variant}-asyncio-{self.scenario}-u{self.users}"

    @property
    def cpu_bound(self) -> bool:
        return self.scenario.startswith(("cpu", "hello"))


def quick_configs() -> list[Config]:
    out = []
    for scenario, users in QUICK_SCENARIOS:
        for variant in QUICK_VARIANTS:
            for u in users:
                rps = 20.0 * u * (1 + QUICK_VARIANTS.index(variant))
                out.append(Config(variant, scenario, u, rps, 1000.0 * u / rps * 1.5, 0.4))
    return out


@dataclass
class Plan:
    """What each run of a history does: noise, steps in some configurations, the machine."""

    runs: int = 12
    noise: float = 0.03  # relative sd between runs
    ci_half: float = 0.04  # each run's own interval half-width, relative
    repeats: int = 1
    # config cell_base → (first run after the step, factor on req/s; latency and CPU ÷ it)
    steps: dict[str, tuple[int, float]] = field(default_factory=dict)
    speed_s: list[float] | None = None  # the machine-speed loop's seconds per run
    environment: dict = field(default_factory=lambda: dict(MACHINE))
    schema: int = 4
    seed: int = 0


def summary_rows(configs: list[Config], plan: Plan, r: int, rng: np.random.Generator) -> list:
    speed0 = plan.speed_s[0] if plan.speed_s else 1.0
    slower = (plan.speed_s[r] / speed0) if plan.speed_s else 1.0
    rows = []
    for c in configs:
        k, factor = plan.steps.get(c.cell_base, (plan.runs + 1, 1.0))
        gain = (factor if r >= k else 1.0) / (slower if c.cpu_bound else 1.0)
        common = 1 + rng.normal(0, plan.noise)
        for rep in range(1, plan.repeats + 1):
            z = common * (1 + rng.normal(0, plan.noise / 3))
            rps = c.rps * gain * z
            rows.append(
                {
                    "run_id": f"run{r:03d}",
                    "cell_id": f"{c.cell_base}-r{rep}",
                    "variant": c.variant,
                    "loop": "asyncio",
                    "processes": 1,
                    "scenario": c.scenario,
                    "users": c.users,
                    "repeat": rep,
                    "status": "ok",
                    "duration_s": 3.0,
                    "requests": int(rps * 3),
                    "failures": 0,
                    "error_rate": 0.0,
                    "rps": rps,
                    "p50_ms": c.p99_ms / 2 / gain / z,
                    "p99_ms": c.p99_ms / gain / z,
                    "valid": True,
                    "notes": "",
                    "rps_ci_low": rps * (1 - plan.ci_half),
                    "rps_ci_high": rps * (1 + plan.ci_half),
                    "server_cpu_ms_per_req": c.cpu_ms
                    * slower
                    / z
                    / (gain * (slower if c.cpu_bound else 1.0)),
                }
            )
    return rows


def write_history(
    path: Path,
    plan: Plan,
    configs: list[Config] | None = None,
    start_index: int = 0,
    t0: float = T0,
) -> list[Path]:
    """plan.runs runs under path (run000, run001 ... from start_index), a day apart."""
    configs = configs or quick_configs()
    rng = np.random.default_rng(plan.seed)
    out = []
    for r in range(plan.runs):
        run_dir = path / f"run{start_index + r:03d}"
        run_dir.mkdir(parents=True, exist_ok=True)
        rows = summary_rows(configs, plan, r, rng)
        for row in rows:
            row["run_id"] = run_dir.name
        columns = SCHEMA1_COLUMNS if plan.schema == 1 else SUMMARY_COLUMNS
        frame = pd.DataFrame(rows).reindex(columns=list(columns))
        frame.to_csv(RunLayout(run_dir).summary_csv, index=False)
        commit = hashlib.sha1(f"{plan.seed}-{start_index + r}".encode()).hexdigest()
        env = {**plan.environment, "git": {"commit": commit, "dirty": False}}
        meta = {
            "run_id": run_dir.name,
            "schema_version": plan.schema,
            "suite": {"name": "quick", "repeats": plan.repeats},
            "environment": env,
            "started": t0 + (start_index + r) * DAY_S,
            "status": "complete",
            "cells": [row["cell_id"] for row in rows],
        }
        if plan.speed_s is not None and plan.schema >= 2:
            meta["speed"] = {"start_s": plan.speed_s[r], "end_s": plan.speed_s[r]}
        io.write_json(RunLayout(run_dir).run_json, meta)
        out.append(run_dir)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analysis.history.synthetic", description=__doc__
    )
    parser.add_argument("dir", type=Path)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    write_history(args.dir, Plan(runs=args.runs, seed=args.seed))
    print(f"wrote {args.runs} runs in {args.dir} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
