"""A synthetic run in the real results layout, for benchmarking `report` and for demos:
``python -m analysis.synthetic DIR [--cells 50] [--requests 1000000]``, then
``python run_bench.py report DIR``. Each cell serves its strategy's model bound less a few per
cent for one window shared by every cell (as a suite's fixed duration), its request count
its rate's share of the run's, its latency from Little's law, so the report's verdicts read
as a real run's would."""

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
# Where the model has no bound (none of the grid's cells today), the rate a cell serves.
NO_BOUND_RPS = 2000.0
# A healthy cell reaches 85-95 % of its bound: below the bound (never `invalid`), above the
# efficiency a saturated-generator flag looks for.
EFFICIENCY = (0.85, 0.95)
# From the window's end to the cell's end (the load stops, the files close, the server stops),
# and from one cell's end to the next one's start (its server starts).
WIND_DOWN_S, GAP_S = 2.0, 3.0
# Each latency is its mean times 1 + an exponential draw of this mean: a tail, as measured.
LATENCY_NOISE = 0.05


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


def _write_run_json(path: Path, chosen: list[CellSpec], ended: float) -> None:
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
        ended=ended,
        status="complete",
        cells=tuple(c.cell_id for c in chosen),
    ).write(path)


def _bound(cell: CellSpec, *, threads: int, processes: int, cores: int) -> float:
    """The cell's model bound (req/s) with these threads, processes and cores."""
    return expected_rps(
        strategy=cell.strategy,
        scenario=cell.scenario,
        params=cell.params,
        users=cell.users,
        threads=threads,
        processes=processes,
        cores=cores,
    )


def _model_rate(cell: CellSpec, rng: np.random.Generator) -> float:
    """The req/s a cell serves: its model bound on the run's two cores (_write_run_json) with
    its own threads and processes, less a few per cent."""
    bound = _bound(cell, threads=cell.threads, processes=cell.processes, cores=2)
    return bound * rng.uniform(*EFFICIENCY) if bound > 0 else NO_BOUND_RPS


def _flat_latency_ms(cell: CellSpec) -> float:
    """Flat runs' mean latency: from a one-core bound with 8 threads and 2 processes, as flat
    runs always drew it."""
    bound = _bound(cell, threads=8, processes=2, cores=1)
    return cell.users / bound * 1000 if bound > 0 else 50.0


def _shares(rates: np.ndarray, requests: int) -> np.ndarray:
    """Each cell's request count in proportion to its rate (one window for every cell, as a
    suite's fixed duration gives), summing to exactly `requests`, at least one each: the
    largest remainders take what flooring left over."""
    if requests < len(rates):
        raise ValueError(f"--requests {requests} is fewer than --cells {len(rates)}")
    spare = requests - len(rates)
    exact = rates / rates.sum() * spare
    counts = np.floor(exact).astype(np.int64)
    counts[np.argsort(counts - exact)[: spare - int(counts.sum())]] += 1
    return counts + 1


def _write_cell(
    path: Path,
    start0: float,
    cell: CellSpec,
    count: int,
    duration: float,
    latency_ms: float,
    rng: np.random.Generator,
    flat: bool,
) -> float:
    """One cell's `count` requests over `duration` seconds of load from start0, their mean
    latency `latency_ms`, and its cell.json; when the cell ended."""
    rate = count / duration
    ends = start0 + WARMUP_S + np.sort(rng.uniform(0, duration, count))
    latency = latency_ms * (1 + rng.exponential(LATENCY_NOISE, count))
    frame = pd.DataFrame(
        {
            "start": ends - latency / 1000,
            "latency_ms": latency,
            "endpoint": pd.Categorical([f"/{cell.scenario}"] * count),
            "status": np.full(count, 200, dtype=np.int32),
            "bytes": np.full(count, 30, dtype=np.int64),
            "ok": np.ones(count, dtype=bool),
            "worker": np.zeros(count, dtype=np.int32),
        }
    )
    layout = RunLayout(path).cell(cell.cell_id)
    layout.root.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(layout.requests, index=False)
    stopped = start0 + WARMUP_S + duration
    CellRecord(
        cell=cell,
        status="ok",
        settings=CellSettings(duration, WARMUP_S, 0.01),
        window=Window(start0 + WARMUP_S, stopped),
        server_cpu_pct=float(min(100.0, rate / 20) if flat else min(95.0, rate / 50)),
        loadgen_cpu_pct=float(min(99.0, rate / 25) if flat else min(90.0, rate / 50)),
        started=start0,
        ended=stopped + WIND_DOWN_S,
    ).write(layout.root)
    return stopped + WIND_DOWN_S


def write_synthetic_run(
    path: Path, cells: int = 50, requests: int = 1_000_000, seed: int = 0, flat: bool = False
) -> None:
    """By the model (the default): every cell one window, as long as the run's `requests` take
    at the cells' rates together, each cell's count its rate's share and its mean latency
    Little's law's users / rate (less what LATENCY_NOISE adds); cells back to back. Flat: every
    cell requests // cells in DURATION_S, 20 s apart, the latency from a one-core bound (most
    cells then exceed their bound); the report timings in docs/architecture.md up to
    December 2026 were measured on flat runs."""
    rng = np.random.default_rng(seed)
    chosen = synthetic_cells(cells)
    if flat:
        for i, cell in enumerate(chosen):
            start = T0 + i * 20
            count = requests // len(chosen)
            _write_cell(
                path, start, cell, count, DURATION_S, _flat_latency_ms(cell), rng, flat=True
            )
        _write_run_json(path, chosen, T0 + 600)  # as flat runs always said
        return
    rates = np.array([_model_rate(c, rng) for c in chosen])
    counts = _shares(rates, requests)
    duration = requests / rates.sum()
    start = ended = T0
    for cell, rate, count in zip(chosen, rates, counts, strict=True):
        # Less what the noise adds to the latencies' mean (_write_cell).
        latency_ms = cell.users / rate * 1000 / (1 + LATENCY_NOISE)
        ended = _write_cell(path, start, cell, int(count), duration, latency_ms, rng, flat=False)
        start = ended + GAP_S
    _write_run_json(path, chosen, ended)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.synthetic", description=__doc__)
    parser.add_argument("dir", type=Path)
    parser.add_argument("--cells", type=int, default=50)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument(
        "--flat",
        action="store_true",
        help="every cell an equal share of the requests over 10 s, whatever its model (the shape report "
        "timings were measured on up to December 2026; most cells exceed their bound)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.cells <= args.requests:
        parser.error(f"--cells {args.cells}: from 1 to --requests ({args.requests}) allowed")
    started = time.perf_counter()
    write_synthetic_run(args.dir, args.cells, args.requests, flat=args.flat)
    print(f"wrote {args.dir} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
