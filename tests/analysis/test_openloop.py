"""Open-loop figures on a synthetic schedule whose answers are known by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import aggregate
from analysis.load import load_run
from tests.analysis.fixtures import T0, write_cell, write_run
from tests.analysis.fixtures import cell as closed_cell

RATE = 20.0


def _open_cell(variant: str, rate: float = RATE):  # type: ignore[no-untyped-def]
    c = closed_cell(variant, users=50, params={"ms": 50})
    from dataclasses import replace

    return replace(c, rate=rate)


def _schedule(n: int, send_delay_s: np.ndarray, service_ms: np.ndarray) -> pd.DataFrame:
    """n requests whose slots are RATE per second from T0 + 1; each sent `send_delay_s` after
    its slot and answered `service_ms` after it was sent."""
    intended = T0 + 1 + np.arange(n) / RATE
    start = intended + send_delay_s
    return pd.DataFrame(
        {
            "start": start,
            "latency_ms": service_ms,
            "endpoint": ["/sleep"] * n,
            "status": [200] * n,
            "bytes": [20] * n,
            "ok": [True] * n,
            "worker": [0] * n,
            "intended_start": intended,
        }
    )


def _summary(tmp_path: Path, cells_reqs) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    write_run(tmp_path, [c for c, _ in cells_reqs])
    for c, reqs in cells_reqs:
        write_cell(tmp_path, c, requests=reqs, window=(T0 + 1, T0 + 3))
    run = load_run(tmp_path)
    return aggregate.build_summary(run.cells, run.cell_requests, run.run_id).set_index("cell_id")


def test_corrected_latency_counts_the_wait_for_a_send(tmp_path: Path) -> None:
    # 40 slots in the 2 s window; the first 20 sent on time, the last 20 sent 0.5 s late;
    # every answer takes 10 ms after its send.
    n = 40
    delay = np.where(np.arange(n) < 20, 0.0, 0.5)
    reqs = _schedule(n, delay, np.full(n, 10.0))
    reqs = reqs[reqs["start"] + reqs["latency_ms"] / 1000 < T0 + 3]  # what completed in time
    c = _open_cell("coroutine")
    row = _summary(tmp_path, [(c, reqs)]).loc[c.cell_id]
    assert row["offered_rps"] == RATE
    assert row["p99_ms"] == pytest.approx(10.0)  # service latency hides the late sends
    # Completed in the window: 20 on time (10 ms) and 10 late ones (510 ms) → 30 requests.
    assert row["requests"] == 30 and row["achieved_rps"] == 15.0
    assert row["p50_corrected_ms"] == pytest.approx(10.0)  # rank 15 of 30
    assert row["p99_corrected_ms"] == pytest.approx(510.0)
    assert row["late_pct"] == pytest.approx(100 * 10 / 30)
    assert "target rate not reached: 15.0 of 20.0 req/s" in row["notes"]
    assert row["valid"]  # the server fell behind: that is the finding, not a bad cell


def test_on_time_cell_has_corrected_equal_to_service(tmp_path: Path) -> None:
    n = 40
    c = _open_cell("coroutine")
    row = _summary(tmp_path, [(c, _schedule(n, np.zeros(n), np.full(n, 20.0)))]).loc[c.cell_id]
    assert row["late_pct"] == 0.0
    assert row["p99_corrected_ms"] == pytest.approx(row["p99_ms"])
    assert row["achieved_rps"] == pytest.approx(RATE, rel=0.05) and not row["notes"]


def test_a_late_generator_on_busy_cores_is_invalid(tmp_path: Path) -> None:
    n = 40
    c = _open_cell("coroutine")
    write_run(tmp_path, [c])
    write_cell(
        tmp_path, c, requests=_schedule(n, np.full(n, 0.02), np.full(n, 5.0)), loadgen_cpu=95.0
    )
    info_path = tmp_path / "cells" / c.cell_id / "cell.json"
    info = json.loads(info_path.read_text())
    info["loadgen_core_pct"] = 85.0  # busy, though under the saturation line
    info_path.write_text(json.dumps(info))
    run = load_run(tmp_path)
    row = aggregate.build_summary(run.cells, run.cell_requests, run.run_id).iloc[0]
    assert not row["valid"] and "generator late: 100% of requests" in row["notes"]


def test_open_loop_bound_is_the_offer_capped_by_capacity(tmp_path: Path) -> None:
    # sync on /sleep?ms=50 serves 20 req/s at most: offered 40 → bound 20; offered 10 → 10.
    n = 40
    over, under = _open_cell("sync", 40.0), _open_cell("sync", 10.0)
    s = _summary(
        tmp_path,
        [
            (over, _schedule(n, np.zeros(n), np.full(n, 50.0))),
            (under, _schedule(n, np.zeros(n), np.full(n, 50.0))),
        ],
    )
    assert s.loc[over.cell_id, "expected_rps"] == pytest.approx(20.0)
    assert s.loc[over.cell_id, "utilisation"] == pytest.approx(2.0)
    assert s.loc[under.cell_id, "expected_rps"] == pytest.approx(10.0)
    assert s.loc[under.cell_id, "utilisation"] == pytest.approx(0.5)
    assert over.cell_id.endswith("-r40-r1")


def test_closed_loop_cells_leave_the_open_loop_columns_empty(tmp_path: Path) -> None:
    c = closed_cell("coroutine", users=10)
    n = 40
    reqs = _schedule(n, np.zeros(n), np.full(n, 20.0)).assign(intended_start=np.nan)
    row = _summary(tmp_path, [(c, reqs)]).loc[c.cell_id]
    for col in ("offered_rps", "achieved_rps", "p99_corrected_ms", "late_pct"):
        assert pd.isna(row[col]), col


def test_slo_ranking_takes_the_highest_rate_within_the_slo() -> None:
    from analysis.openloop import slo_ranking

    summary = pd.DataFrame(
        {
            "scenario": ["sleep-ms20"] * 5,
            "loop": ["asyncio"] * 5,
            "variant": ["sync", "sync", "coroutine", "coroutine", "coroutine"],
            "offered_rps": [20.0, 80.0, 80.0, 300.0, 600.0],
            "achieved_rps": [20.0, 45.0, 80.0, 300.0, 590.0],
            "p99_corrected_ms": [60.0, 4000.0, 25.0, 40.0, 150.0],
            "capacity_rps": [50.0, 50.0, 2500.0, 2500.0, 2500.0],
            "valid": [True] * 5,
            "open_loop": [True] * 5,
        }
    )
    ranked = slo_ranking(summary, slo_ms=100)
    assert list(ranked["variant"]) == ["coroutine", "sync"]
    assert list(ranked["max_rate"]) == [300.0, 20.0]
    none = slo_ranking(summary, slo_ms=10)
    assert list(none["max_rate"]) == [0.0, 0.0]


def test_slots_without_answers_count_and_make_percentiles_lower_bounds() -> None:
    from analysis.cellstats import _rank
    from analysis.openloop import open_loop_stats

    slots = pd.DataFrame(
        {
            "intended_start": T0 + np.arange(10) / 10,
            "corrected_ms": [10.0] * 8 + [900.0, 950.0],  # the last two: no answer by the stop
            "answered": [True] * 8 + [False] * 2,
            "ok": [True] * 8 + [False] * 2,
            "late": [False] * 8 + [True] * 2,
            "worker": [0] * 10,
        }
    )
    stats = open_loop_stats(pd.DataFrame(), _rank, slots)
    assert stats["unanswered_pct"] == 20.0 and stats["late_pct"] == 20.0
    assert stats["p50_corrected_ms"] == 10.0 and stats["p99_corrected_ms"] == 950.0
