"""A synthetic run in the real results layout, for benchmarking `report` and for demos:
``python -m analysis.synthetic DIR [--cells 50] [--requests 1000000]``, then
``python run_bench.py report DIR``. Latencies follow each strategy's model with noise."""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.model import expected_rps
from catalog import strategies
from record.layout import RunLayout
from record.records import CellRecord, CellSettings, CellSpec, RunRecord
from record.run_meta import Environment
from record.window import Window

VARIANTS = ("sync", "coroutine", "threadpool", "fanout", "multiprocess")
USERS = (1, 10, 50, 100, 200)
SCENARIOS = (("sleep", {"ms": 50}), ("fanout", {"n": 4, "ms": 50}))
# A full suite runs every cell on both loops (suites/full.toml).
LOOPS = ("asyncio", "uvloop")
T0 = 1_700_000_000.0
WARMUP_S, DURATION_S = 1.0, 10.0


def synthetic_cells(count: int) -> list[CellSpec]:
    """The first `count` cells of an endless grid, in the order a suite lists them: the 50-cell
    grid (SCENARIOS × VARIANTS × USERS) on asyncio, then on uvloop, then both again as the next
    repeat, and so on. The first 50 never change, so figures measured on them stay comparable;
    beyond 50 the run has a full suite's shape (loops, repeats) at any size, e.g. 2,877 cells."""
    grid = list(itertools.product(LOOPS, SCENARIOS, VARIANTS, USERS))
    every = (
        (repeat, loop, scenario, params, variant, users)
        for repeat in itertools.count(1)
        for loop, (scenario, params), variant, users in grid
    )
    return [
        CellSpec(
            variant,
            loop,
            scenario,
            params,
            users,
            repeat,
            8,
            strategies.VARIANTS[variant].processes(2),
        )
        for repeat, loop, scenario, params, variant, users in itertools.islice(every, count)
    ]


def _write_run_json(path: Path, chosen: list[CellSpec]) -> None:
    RunRecord(
        run_id=path.name,
        suite={
            "name": "synthetic",
            "description": "generated",
            "warmup_s": WARMUP_S,
            "duration_s": DURATION_S,
            "repeats": max(c.repeat for c in chosen),
            "max_error_rate": 0.01,
        },
        environment=Environment(cpu_model="synthetic", cores=2),
        started=T0,
        ended=T0 + 600,
        status="complete",
        cells=tuple(c.cell_id for c in chosen),
    ).write(path)


def _write_cell(
    path: Path, i: int, cell: CellSpec, per_cell: int, rng: np.random.Generator
) -> None:
    bound = expected_rps(
        strategy=cell.strategy,
        scenario=cell.scenario,
        params=cell.params,
        users=cell.users,
        threads=8,
        processes=2,
        cores=1,
    )
    rate = per_cell / DURATION_S
    base = cell.users / bound * 1000 if bound > 0 else 50.0
    start0 = T0 + i * 20
    ends = start0 + WARMUP_S + np.sort(rng.uniform(0, DURATION_S, per_cell))
    latency = base * (1 + rng.exponential(0.05, per_cell))
    frame = pd.DataFrame(
        {
            "start": ends - latency / 1000,
            "latency_ms": latency,
            "endpoint": pd.Categorical([f"/{cell.scenario}"] * per_cell),
            "status": np.full(per_cell, 200, dtype=np.int32),
            "bytes": np.full(per_cell, 30, dtype=np.int64),
            "ok": np.ones(per_cell, dtype=bool),
            "worker": np.zeros(per_cell, dtype=np.int32),
        }
    )
    layout = RunLayout(path).cell(cell.cell_id)
    layout.root.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(layout.requests, index=False)
    CellRecord(
        cell=cell,
        status="ok",
        settings=CellSettings(DURATION_S, WARMUP_S, 0.01),
        window=Window(start0 + WARMUP_S, start0 + WARMUP_S + DURATION_S),
        server_cpu_pct=float(min(100.0, rate / 20)),
        loadgen_cpu_pct=float(min(99.0, rate / 25)),
        started=start0,
        ended=start0 + DURATION_S + 3,
    ).write(layout.root)


def write_synthetic_run(
    path: Path, cells: int = 50, requests: int = 1_000_000, seed: int = 0
) -> None:
    rng = np.random.default_rng(seed)
    chosen = synthetic_cells(cells)
    _write_run_json(path, chosen)
    for i, cell in enumerate(chosen):
        _write_cell(path, i, cell, requests // len(chosen), rng)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.synthetic", description=__doc__)
    parser.add_argument("dir", type=Path)
    parser.add_argument("--cells", type=int, default=50)
    parser.add_argument("--requests", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    write_synthetic_run(args.dir, args.cells, args.requests)
    print(f"wrote {args.dir} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
