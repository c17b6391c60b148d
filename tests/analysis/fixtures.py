"""Small synthetic runs written in the real results layout, with answers known by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from record import io
from record.records import CellSpec as Cell
from record.window import Window

T0 = 1_700_000_000.0


def requests_frame(
    starts: list[float], latencies: list[float], ok: list[bool] | None = None
) -> pd.DataFrame:
    n = len(starts)
    return pd.DataFrame(
        {
            "start": np.asarray(starts, dtype=float),
            "latency_ms": np.asarray(latencies, dtype=float),
            "endpoint": ["/sleep"] * n,
            "status": [200] * n,
            "bytes": [20] * n,
            "ok": ok if ok is not None else [True] * n,
            "worker": [0] * n,
        }
    )


def write_cell(
    run_dir: Path,
    cell: Cell,
    *,
    requests: pd.DataFrame | None,
    window: tuple[float, float] | None = (T0 + 1, T0 + 3),
    status: str = "ok",
    reason: str = "",
    loadgen_cpu: float = 20.0,
    server_cpu: float = 50.0,
    cores: int = 1,
    max_error_rate: float = 0.01,
    outside: pd.DataFrame | None = None,
) -> None:
    cell_dir = run_dir / "cells" / cell.cell_id
    cell_dir.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {
        "cell": cell.to_dict(),
        "status": status,
        "reason": reason,
        "cores": cores,
        "loadgen_cpu_pct": loadgen_cpu,
        "server_cpu_pct": server_cpu,
        "timings": {"wall_s": 5.0},
        "suite": {"max_error_rate": max_error_rate, "warmup_s": 1.0, "duration_s": 2.0},
    }
    if window is not None:
        info["window"] = {"start": window[0], "end": window[1]}
    io.write_json(cell_dir / "cell.json", info)
    if requests is not None:
        # As the harness writes a cell: window rows in requests.parquet, the rest outside.
        inside = Window(*window).holds_frame(requests) if window is not None else True
        requests[inside].to_parquet(cell_dir / "requests.parquet", index=False)
        if outside is None and window is not None and (~inside).any():
            outside = requests[~inside]
    if outside is not None:
        outside.to_parquet(cell_dir / "outside.parquet", index=False)


def write_run(run_dir: Path, cells: list[Cell], **environment: Any) -> None:
    env = {
        "cpu": {"model": "Test CPU", "cores": 2},
        "python": {"version": "3.11.7"},
        "packages": {"tornado": "6.6.1"},
        **environment,
    }
    io.write_json(
        run_dir / "run.json",
        {
            "run_id": run_dir.name,
            "suite": {"name": "synthetic", "warmup_s": 1.0, "duration_s": 2.0, "repeats": 1},
            "environment": env,
            "started": T0,
            "status": "complete",
            "cells": [c.cell_id for c in cells],
        },
    )


def cell(
    variant: str = "sync",
    users: int = 10,
    scenario: str = "sleep",
    params: dict | None = None,
    repeat: int = 1,
    loop: str = "asyncio",
) -> Cell:
    return Cell(
        strategy=variant,
        loop=loop,
        scenario=scenario,
        params=params if params is not None else {"ms": 50},
        users=users,
        repeat=repeat,
        threads=8,
        processes=2 if variant == "multiprocess" else 1,
    )


def steady_requests(
    rps: float, latency_ms: float, start: float = T0, end: float = T0 + 4
) -> pd.DataFrame:
    """Requests completing evenly at rps between start and end, each of latency_ms."""
    count = round((end - start) * rps)
    ends = start + (np.arange(count) + 0.5) / rps
    return requests_frame(list(ends - latency_ms / 1000), [latency_ms] * count)


def noisy_run(
    path: Path,
    *,
    rate: float,
    latency_ms: float,
    seconds: int,
    jitter: int,
    spread_ms: float,
    seed: int,
) -> Cell:
    """One coroutine cell whose window holds `seconds` whole seconds of about `rate` req/s
    (± jitter per second) at about `latency_ms` (+ an exponential spread)."""
    c = cell("coroutine", users=10)
    write_run(path, [c])
    rng = np.random.default_rng(seed)
    parts = []
    for s in range(seconds):
        count = int(rate + rng.integers(-jitter, jitter + 1))
        ends = T0 + 1 + s + (np.arange(count) + 0.5) / count
        parts.append(
            requests_frame(
                list(ends - latency_ms / 1000), list(latency_ms + rng.exponential(spread_ms, count))
            )
        )
    write_cell(
        path, c, requests=pd.concat(parts, ignore_index=True), window=(T0 + 1, T0 + 1 + seconds)
    )
    return c
