"""Verdicts no stronger than their evidence: rankings that tie what the data cannot separate,
server cost per request, and the stability columns (analysis/precision.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import aggregate, precision
from analysis.load import load_run
from tests.analysis.fixtures import T0, cell, requests_frame, write_cell, write_run

SECONDS = 10


def _noisy(rate: float, jitter: float, seed: int) -> pd.DataFrame:
    """`SECONDS` seconds of completions at about `rate` req/s, each second's count drawn with
    a relative spread of `jitter`."""
    rng = np.random.default_rng(seed)
    ends = []
    for s in range(SECONDS):
        count = max(1, round(rate * (1 + rng.normal(0, jitter))))
        ends.extend(T0 + 1 + s + (np.arange(count) + 0.5) / count)
    ends_arr = np.asarray(ends)
    return requests_frame(list(ends_arr - 0.02), [20.0] * len(ends_arr))


def _ranking(tmp_path: Path, specs: list[tuple[str, pd.DataFrame]]) -> pd.DataFrame:
    cells = [cell(variant, users=50, params={"ms": 20}) for variant, _ in specs]
    write_run(tmp_path, cells)
    for c, (_, reqs) in zip(cells, specs, strict=True):
        write_cell(tmp_path, c, requests=reqs, window=(T0 + 1, T0 + 1 + SECONDS))
    run = load_run(tmp_path)
    summary = aggregate.build_summary(run.cells, run.cell_requests, run.run_id)
    return aggregate.ranking(summary).set_index("variant")


def test_three_percent_apart_with_noisy_seconds_is_a_tie(tmp_path: Path) -> None:
    ranked = _ranking(
        tmp_path, [("coroutine", _noisy(900, 0.15, 1)), ("fanout", _noisy(873, 0.15, 2))]
    )
    assert ranked.loc["coroutine", "rank"] == ranked.loc["fanout", "rank"] == 1


def test_thirty_percent_apart_with_tight_seconds_is_ranked(tmp_path: Path) -> None:
    ranked = _ranking(
        tmp_path, [("coroutine", _noisy(900, 0.02, 1)), ("gencoroutine", _noisy(630, 0.02, 2))]
    )
    assert ranked.loc["coroutine", "rank"] == 1 and ranked.loc["gencoroutine", "rank"] == 2


def test_a_generator_limited_leader_cannot_be_beaten_by_a_lower_figure(tmp_path: Path) -> None:
    """Its req/s is a lower bound: a variant below it is never ranked above, and one far above
    still is."""
    write_run(tmp_path, [])
    summary = pd.DataFrame(
        {
            "scenario": ["hello"] * 3,
            "loop": ["asyncio"] * 3,
            "variant": ["sync", "coroutine", "multiprocess"],
            "users": [10] * 3,
            "rps": [2000.0, 1900.0, 4000.0],
            "rps_ci_low": [1990.0, 1890.0, 3990.0],
            "rps_ci_high": [2010.0, 1910.0, 4010.0],
            "valid": [True] * 3,
            "generator_limited": [False, True, False],
            "open_loop": [False] * 3,
            "contended": [False] * 3,
        }
    )
    ranked = aggregate.ranking(summary).set_index("variant")
    assert ranked.loc["multiprocess", "rank"] == 1
    assert ranked.loc["sync", "rank"] == ranked.loc["coroutine", "rank"] == 2


def test_server_cost_per_request_from_known_cpu(tmp_path: Path) -> None:
    """50 % of a core at 250 req/s is 2 ms of server CPU per request; the generator's 80 %
    over both its processes at the same rate is 3.2 ms."""
    c = cell("coroutine", users=10)
    write_run(tmp_path, [c])
    reqs = requests_frame(list(T0 + 1 + (np.arange(500) + 0.5) / 250 - 0.004), [4.0] * 500)
    write_cell(tmp_path, c, requests=reqs, server_cpu=50.0, loadgen_cpu=45.0)
    info = (tmp_path / "cells" / c.cell_id / "cell.json").read_text()
    info = info.replace(
        '"loadgen_cpu_pct": 45.0', '"loadgen_cpu_pct": 45.0, "loadgen_cpu_total_pct": 80.0'
    )
    (tmp_path / "cells" / c.cell_id / "cell.json").write_text(info)
    run = load_run(tmp_path)
    row = aggregate.build_summary(run.cells, run.cell_requests, run.run_id).iloc[0]
    assert row["rps"] == pytest.approx(250.0)
    assert row["server_cpu_ms_per_req"] == pytest.approx(2.0)
    assert row["loadgen_cpu_ms_per_req"] == pytest.approx(3.2)


def test_precision_columns_and_stability(tmp_path: Path) -> None:
    steady = cell("coroutine", users=10)
    stalled = cell("threadpool", users=10)
    write_run(tmp_path, [steady, stalled])
    write_cell(tmp_path, steady, requests=_noisy(200, 0.02, 3), window=(T0 + 1, T0 + 11))
    # A 4-second stall in the middle of the window: the mean is known only loosely.
    gappy = _noisy(200, 0.02, 4)
    second = (gappy["start"] + gappy["latency_ms"] / 1000 - T0 - 1).astype(int)
    write_cell(tmp_path, stalled, requests=gappy[~second.between(3, 6)], window=(T0 + 1, T0 + 11))
    run = load_run(tmp_path)
    s = aggregate.build_summary(run.cells, run.cell_requests, run.run_id).set_index("cell_id")
    a, b = s.loc[steady.cell_id], s.loc[stalled.cell_id]
    assert a["rps_ci_low"] <= a["rps"] <= a["rps_ci_high"] and bool(a["stable"])
    assert a["cv_pct"] < 5
    assert b["cv_pct"] > 60 and not bool(b["stable"])
    assert b["rps_ci_high"] - b["rps_ci_low"] > 5 * (a["rps_ci_high"] - a["rps_ci_low"])


def test_repeats_replace_the_window_interval_by_the_repeats_interval() -> None:
    values = np.array([100.0, 110.0, 90.0])
    lo, hi = precision.t_interval(values)
    assert lo == pytest.approx(100 - 4.303 * 10 / np.sqrt(3), rel=1e-3)
    assert hi == pytest.approx(100 + 4.303 * 10 / np.sqrt(3), rel=1e-3)
    summary = pd.DataFrame(
        {
            "variant": ["sync"] * 3,
            "loop": ["asyncio"] * 3,
            "processes": [1] * 3,
            "scenario": ["sleep-ms50"] * 3,
            "users": [10] * 3,
            "rps": values,
            "valid": [True] * 3,
            "rps_ci_low": [99.0] * 3,
            "rps_ci_high": [101.0] * 3,
            "cv_pct": [1.0] * 3,
        }
    )
    out = precision.across_repeats(summary)
    assert list(out["rps_ci_low"]) == pytest.approx([lo] * 3)
    assert out["cv_pct"].iloc[0] == pytest.approx(10.0)


def test_a_generator_that_takes_much_of_each_users_cycle_limits_a_closed_loop() -> None:
    """One user at 53 % generator CPU read half of wrk's rate on /hello: the generator's own
    time per request is part of every cycle. Fifty users at 41 % are not shaped by it."""
    from analysis.validity import marks

    assert marks(status="ok", loadgen_core_pct=53.0, users=1)[0].startswith("generator-limited")
    assert marks(status="ok", loadgen_core_pct=41.0, users=50) == []
    assert marks(status="ok", loadgen_core_pct=80.0, users=50)[0].startswith("generator-limited")
    assert marks(status="failed", loadgen_core_pct=53.0, users=1) == []
