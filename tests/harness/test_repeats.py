"""Stability-driven repeats with a fake cell runner: no process, known noise."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from analysis.precision import half_width_pct
from harness import runner
from harness.suite.parse import parse_suite
from record.records import CellRecord, CellSettings, CellSpec, RunRecord
from record.run_meta import Environment, Speed
from record.verdict import Verdict
from record.window import Window


def _suite(**keys: object):  # type: ignore[no-untyped-def]
    return parse_suite(
        {
            "name": "adaptive",
            "duration_s": 1,
            "warmup_s": 0,
            "variants": ["sync", "coroutine"],
            "users": [4],
            "scenarios": [{"name": "sleep", "params": {"ms": 20}}],
            **keys,
        },
        "adaptive.toml",
    )


Judge = Callable[[CellRecord, Path], tuple[str, str, float]]


def _fake_run(monkeypatch: pytest.MonkeyPatch, noise: dict[str, float]) -> tuple[list[str], Judge]:
    """run_cell that records an ok cell at once; the judge's req/s is 100 × (1 + noise·z) with
    a fixed z per repeat, so each variant's interval narrows at a known pace."""
    ran: list[str] = []
    zs = [1.0, -1.0, 0.5, -0.5, 0.25, -0.25, 0.1, -0.1]

    def run_cell(cell: CellSpec, cell_dir: Path, options: object) -> CellRecord:
        ran.append(cell.cell_id)
        record = CellRecord(
            cell=cell,
            status="ok",
            settings=CellSettings(1, 0),
            window=Window(0.0, 1.0),
            started=0.0,
        )
        record.write(cell_dir)
        return record

    def judge(record: CellRecord, cell_dir: Path) -> Verdict:
        z = zs[record.cell.repeat - 1]
        return Verdict("ok", "", 100.0 * (1 + noise[record.cell.variant] * z))

    monkeypatch.setattr(runner, "run_cell", run_cell)
    monkeypatch.setattr(runner, "measure_speed", lambda: 0.1)
    monkeypatch.setattr(runner, "collect_environment", Environment)
    return ran, judge


def _expected_repeats(noise: float, lo: int, hi: int, target: float) -> int:
    zs = np.array([1.0, -1.0, 0.5, -0.5, 0.25, -0.25, 0.1, -0.1])
    for n in range(lo, hi + 1):
        values = 100 * (1 + noise * zs[:n])
        half = stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n)
        if half / values.mean() * 100 <= target:
            return n
    return hi


def test_adaptive_repeats_stop_at_the_right_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    noise = {"sync": 0.002, "coroutine": 0.05}  # one quiet variant, one noisy
    ran, judge = _fake_run(monkeypatch, noise)
    suite = _suite(min_repeats=2, max_repeats=6, target_ci_pct=5)
    outcome = runner.run_suite(
        suite,
        tmp_path,
        quiet=True,
        judge=judge,
        precision=half_width_pct,  # type: ignore[attr-defined]
    )
    assert not outcome.interrupted
    for variant, level in noise.items():
        runs = sum(cid.startswith(f"{variant}-") for cid in ran)
        assert runs == _expected_repeats(level, 2, 6, 5.0), variant
    assert _expected_repeats(0.002, 2, 6, 5.0) == 2 and _expected_repeats(0.05, 2, 6, 5.0) > 3
    # Repeats are interleaved: the whole matrix once, then again.
    assert ran[:4] == [
        "sync-asyncio-sleep-ms20-u4-r1",
        "coroutine-asyncio-sleep-ms20-u4-r1",
        "sync-asyncio-sleep-ms20-u4-r2",
        "coroutine-asyncio-sleep-ms20-u4-r2",
    ]
    run = RunRecord.read(tmp_path)
    assert list(run.cells) == ran  # run.json lists every cell the run added
    # Each cell carries the speed readings taken next to it, before and after.
    speeds = [CellRecord.read(tmp_path / "cells" / cid).speed for cid in ran]
    assert speeds == [Speed(0.1, 0.1)] * len(ran)


def test_noise_that_never_settles_stops_at_max_repeats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran, judge = _fake_run(monkeypatch, {"sync": 0.5, "coroutine": 0.5})
    suite = _suite(min_repeats=2, max_repeats=4, target_ci_pct=1)
    runner.run_suite(suite, tmp_path, quiet=True, judge=judge, precision=half_width_pct)
    assert len(ran) == 8


def test_fixed_repeats_run_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran, judge = _fake_run(monkeypatch, {"sync": 0.5, "coroutine": 0.5})
    runner.run_suite(_suite(repeats=3), tmp_path, quiet=True, judge=judge, precision=half_width_pct)  # type: ignore[attr-defined]
    assert len(ran) == 6


def test_configurations_that_missed_the_target_are_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, judge = _fake_run(monkeypatch, {"sync": 0.002, "coroutine": 0.5})
    suite = _suite(min_repeats=2, max_repeats=3, target_ci_pct=5)
    runner.run_suite(suite, tmp_path, quiet=True, judge=judge, precision=half_width_pct)
    assert RunRecord.read(tmp_path).unmet_targets == ("coroutine-asyncio-sleep-ms20-u4",)
