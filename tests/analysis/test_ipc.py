"""The model's bound for a process pool on /cpu: min(users, workers, cores) / (S + its
measured round trip), and the report's reading of that round trip."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from analysis import aggregate
from analysis.readings.ipc import ipc_items
from catalog.strategies import VARIANTS

POOL = next(name for name, v in VARIANTS.items() if v.process_pool)


def cell(variant: str, users: int, processes: int, rps: float, cpu_pct: float) -> dict:
    return {
        "variant": variant,
        "strategy": variant,
        "loop": "asyncio",
        "scenario": "cpu-n1",
        "scenario_name": "cpu",
        "params": {"n": 1},
        "users": users,
        "threads": 8,
        "processes": processes,
        "cores": 2,
        "status": "ok",
        "rps": rps,
        "server_cpu_pct": cpu_pct,
        "p50_ms": 1.0,
    }


def summary() -> pd.DataFrame:
    # sync: 100 µs of CPU per request; the pool: 300 µs (200 µs of it the round trip).
    return pd.DataFrame(
        [
            cell("sync", 1, 1, 5000.0, 50.0),
            cell("sync", 8, 1, 8000.0, 80.0),
            cell(POOL, 1, 4, 2000.0, 60.0),
            cell(POOL, 8, 4, 4000.0, 120.0),
        ]
    )


def test_round_trip_is_the_pools_demand_above_the_cheapest() -> None:
    ((key, extra),) = aggregate.ipc_costs(summary()).items()
    assert key == (POOL, "cpu-n1", "asyncio")
    assert extra == pytest.approx(200e-6)


def test_pool_bound_is_min_users_workers_cores_over_s_plus_round_trip() -> None:
    out = aggregate.add_model(summary()).set_index(["variant", "users"])
    s = 100e-6
    assert out.loc[("sync", 8), "expected_rps"] == pytest.approx(1 / s)
    assert out.loc[(POOL, 1), "expected_rps"] == pytest.approx(1 / (s + 200e-6))
    # Eight users, four workers, two cores: two at once.
    assert out.loc[(POOL, 8), "expected_rps"] == pytest.approx(2 / (s + 200e-6))
    assert math.isclose(out.loc[(POOL, 8), "efficiency"], 4000.0 / (2 / 300e-6))


def test_report_reads_the_round_trip_and_says_nothing_without_a_pool() -> None:
    (item,) = ipc_items(summary())
    assert item.startswith(f"{POOL} on cpu-n1 (asyncio): 200 µs")
    assert ipc_items(summary()[summary()["variant"] == "sync"]) == []
