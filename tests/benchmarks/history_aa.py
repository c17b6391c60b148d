"""Real histories for `history`: the same commit run again and again (an A/A series), and a
series with a real step (threadpool from 8 to 4 threads after run k). Prints the change points
found and the false-positive rate over the A/A configurations.

    python -m tests.benchmarks.history_aa OUT [--runs 10] [--duration 3] [--step-at K]

Each run is `run_bench.py run` of a 6-cell suite (sync, coroutine and threadpool on /sleep?ms=20
at 10 users and /cpu?n=20000 at 2 users); with --step-at, runs K and later give the
threadpool 4 threads instead of 8. Load goes to 127.0.0.1 only."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from tests.conftest import ROOT

SUITE = """\
name = "history-aa"
description = "six cells for a real A/A history"
duration_s = {duration}
warmup_s = 1
repeats = 1
variants = ["sync", "coroutine", "threadpool"]
users = [10]

[server]
threads = {threads}

[[scenarios]]
name = "sleep"
params = {{ ms = 20 }}

[[scenarios]]
name = "cpu"
params = {{ n = 20000 }}
users = [2]
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--duration", type=float, default=3)
    parser.add_argument("--step-at", type=int, default=None)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for r in range(args.runs):
        threads = 4 if args.step_at is not None and r >= args.step_at else 8
        suite = args.out / f"suite-{threads}.toml"
        suite.write_text(SUITE.format(duration=args.duration, threads=threads))
        cmd = [
            sys.executable,
            "run_bench.py",
            "run",
            str(suite),
            "--out",
            str(args.out / "runs"),
            "--quiet",
        ]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        print(
            f"run {r} (threads {threads}): exit {done.returncode}, "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )
    history = [
        sys.executable,
        "run_bench.py",
        "history",
        str(args.out / "runs"),
        "--out",
        str(args.out / "site"),
    ]
    began = time.perf_counter()
    print(subprocess.run(history, cwd=ROOT, capture_output=True, text=True).stdout)
    print(f"history took {time.perf_counter() - began:.1f} s")
    changes = pd.read_csv(args.out / "site" / "changes.csv")
    points = pd.read_csv(args.out / "site" / "points.csv")
    configs = points["config"].nunique()
    flagged = changes["config"].nunique() if len(changes) else 0
    print(
        f"configurations with a change: {flagged} of {configs} "
        f"({flagged / configs:.0%}); series with a change: "
        f"{changes.groupby(['config', 'metric']).ngroups if len(changes) else 0} of "
        f"{points.groupby(['config', 'metric']).ngroups}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
