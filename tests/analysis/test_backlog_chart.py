"""The enqueue backlog chart: drawn from enqueue cells' backlog.csv, read with each strategy's
response p50, completion rate and backlog growth; absent from a run without such cells."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from analysis import aggregate
from analysis.figures.charts import CHARTS, ChartInputs
from analysis.load import load_run, read_backlog
from analysis.readings.backlog import NO_BACKLOG, backlog_of, growth_sign
from analysis.report.build import build_report
from record.records import CellSpec
from record.schema import BACKLOG_FILE
from tests.analysis.fixtures import T0, cell, steady_requests, write_cell, write_run
from tests.analysis.test_charts import assert_inside, patch_cell

ENQUEUE = {"ms": 20, "n": 0}
SPEC = next(c for c in CHARTS if c.name == "backlog")


def _backlog(
    run_dir: Path, c: CellSpec, pending: np.ndarray, done_per_s: float, pids: list[int]
) -> None:
    """backlog.csv sampled every 0.5 s from the load's start (T0) to T0 + 4."""
    t = T0 + np.arange(len(pending)) * 0.5
    frame = pd.DataFrame(
        {
            "t": t,
            "queued": pending // 2,
            "in_progress": pending - pending // 2,
            "completed": np.round(done_per_s * (t - T0)).astype(int),
            "rejected": 0,
            "pid": [pids[i % len(pids)] for i in range(len(t))],
        }
    )
    frame.to_csv(run_dir / "cells" / c.cell_id / BACKLOG_FILE, index=False)


def _enqueue_cell(run_dir: Path, c: CellSpec, rate: float, latency_ms: float) -> None:
    write_cell(run_dir, c, requests=steady_requests(rate, latency_ms, T0 + 0.5, T0 + 3.5))
    patch_cell(run_dir, c, timings={"wall_s": 5.0, "load_started": T0})


def _material(run_dir: Path) -> ChartInputs:
    run = load_run(run_dir)
    summary = aggregate.build_summary(run.cells, run.cell_requests, run.run_id)
    return ChartInputs(run, summary, aggregate.ranking(summary))


@pytest.fixture
def enqueue_run(tmp_path: Path) -> Path:
    """sync answers slowly with nothing pending; coroutine answers fast while its backlog
    grows 20 jobs/s; a multiprocess cell's polls alternate between its two processes; and a
    sleep cell has no backlog.csv at all."""
    sync = cell("sync", users=20, scenario="enqueue", params=ENQUEUE)
    coro = cell("coroutine", users=20, scenario="enqueue", params=ENQUEUE)
    multi = cell("multiprocess", users=20, scenario="enqueue", params=ENQUEUE)
    sleep = cell("coroutine", users=20, scenario="sleep", params={"ms": 20})
    write_run(tmp_path, [sync, coro, multi, sleep])
    _enqueue_cell(tmp_path, sync, 40, 450)
    _enqueue_cell(tmp_path, coro, 500, 10)
    _enqueue_cell(tmp_path, multi, 400, 12)
    write_cell(tmp_path, sleep, requests=steady_requests(800, 20, T0, T0 + 4))
    samples = np.arange(9)
    _backlog(tmp_path, sync, np.zeros(9, dtype=int), 40, [7])
    _backlog(tmp_path, coro, 10 * samples, 480, [8])  # +10 a sample: 20 jobs/s
    # Process 9 holds 5 pending, process 10 (answers fewer polls) 50: only 9's are shown.
    _backlog(tmp_path, multi, np.where(samples % 3 == 2, 50, 5), 400, [9, 9, 10])
    return tmp_path


def test_backlog_chart_is_in_the_report_and_reads_each_strategy(enqueue_run: Path) -> None:
    result = build_report(enqueue_run)
    charts = {c.name: c for c in result.charts}
    assert "backlog" in charts and (enqueue_run / "charts" / "backlog.png").exists()
    text = charts["backlog"].reading
    assert "sync answers in 450 ms (p50) with no work pending at any poll" in text
    assert "coroutine answers in 10 ms (p50) but its backlog grows 20/s" in text
    assert "480 jobs/s complete in the background, 0 turned away" in text
    assert "multiprocess answers in 12 ms (p50); its backlog holds near 5 jobs" in text
    assert "(one process's figures" in text
    assert "moves its cost rather than removing it" in text
    assert "Respond now, work later" in result.report_path.read_text()


def test_backlog_table_slopes_and_signs(enqueue_run: Path) -> None:
    material = _material(enqueue_run)
    table, curves = backlog_of(material.summary, material.run.backlog)
    rows = table.set_index("variant")
    assert set(rows.index) == {"sync", "coroutine", "multiprocess"}  # the sleep cell is not
    assert rows.loc["coroutine", "growth_per_s"] == pytest.approx(20)
    assert rows.loc["coroutine", "completion_rps"] == pytest.approx(480, rel=0.01)
    assert [growth_sign(rows.loc[v]) for v in ("sync", "coroutine")] == [0, 1]
    assert rows.loc["multiprocess", "one_process"] and not rows.loc["sync", "one_process"]
    multi = curves[rows.loc["multiprocess", "cell_id"]]
    assert set(multi["pending"]) == {5}  # only the process that answered most polls
    assert curves[rows.loc["coroutine", "cell_id"]]["since_s"].iloc[0] == 0
    assert rows.loc["coroutine", "window_from_s"] == pytest.approx(1)
    fig = SPEC.make(*SPEC.args(material))
    try:
        assert_inside(fig, "backlog")
        labels = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
        assert "multiprocess (one process)" in labels and "sync" in labels
    finally:
        plt.close(fig)


def test_no_enqueue_cells_no_backlog_chart(tmp_path: Path) -> None:
    c = cell("coroutine", users=10)
    write_run(tmp_path, [c])
    write_cell(tmp_path, c, requests=steady_requests(100, 50, T0, T0 + 4))
    material = _material(tmp_path)
    assert SPEC.make(*SPEC.args(material)) is None
    assert SPEC.read(material) == NO_BACKLOG
    assert "backlog" not in {chart.name for chart in build_report(tmp_path).charts}


def test_backlog_reader_tolerates_missing_and_cut_files(tmp_path: Path) -> None:
    assert read_backlog(tmp_path).empty
    (tmp_path / BACKLOG_FILE).write_text("")
    assert read_backlog(tmp_path).empty
    (tmp_path / BACKLOG_FILE).write_text(
        "t,queued,in_progress,completed,rejected,pid\n11,1,2,3,0,5\n10,0,0,1,0,5\n12,4,"
    )
    frame = read_backlog(tmp_path, load_started=9.0)
    assert frame["t"].tolist() == [10, 11] and frame["since_s"].tolist() == [1, 2]
