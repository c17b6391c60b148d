"""The report holds one cell's request rows at a time: its memory follows the largest cell,
not the run (a 20 M request run once needed 3.6 GB)."""

from __future__ import annotations

import gc
import shutil
import tracemalloc
import weakref
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest

from analysis import aggregate, forked, load
from analysis.figures import charts
from analysis.load import load_run
from analysis.report.build import build_report
from analysis.synthetic import write_synthetic_run

CELLS, REQUESTS = 10, 200_000


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cells") / "run"
    # Flat: every cell the same count, so one read's rows are a tenth of the run's.
    write_synthetic_run(path, cells=CELLS, requests=REQUESTS, flat=True)
    return path


def _all_requests_peak(path: Path) -> int:
    """What tracemalloc sees when every cell's rows are in one frame (the old RunData.requests):
    the bound below must be one that design would break."""
    run = load_run(path)
    tracemalloc.start()
    try:
        frame = pd.concat([f.assign(cell_id=c) for c, f in run.iter_requests()])
        assert len(frame) == REQUESTS
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_report_reads_one_cell_at_a_time(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    read = load.read_requests
    alive: list[tuple[Path, weakref.ref]] = []
    others_held: list[int] = []
    rows: list[int] = []

    def counted(path: Path, columns: Sequence[str] | None = None, **how: bool) -> pd.DataFrame:
        gc.collect()
        held = {p.parent for p, ref in alive if ref() is not None} - {path.parent}
        others_held.append(len(held))
        frame = read(path, columns, **how)
        alive.append((path, weakref.ref(frame)))
        rows.append(len(frame))
        return frame

    monkeypatch.setattr(load, "read_requests", counted)
    # The cells are read in this process (as with one core), where the reads are counted and
    # tracemalloc sees them; in worker processes each holds one cell's rows the same way.
    monkeypatch.setattr(forked.os, "cpu_count", lambda: 1)
    # Drawing reads no request rows (the chart processes get curves) and is slow under
    # tracemalloc: every chart "draws" a placeholder, so every reading still runs.
    monkeypatch.setattr(
        charts, "_start_render", lambda jobs: (lambda: [b"png"] * len(jobs), lambda: None)
    )
    all_at_once = _all_requests_peak(run_dir)
    rows.clear()
    others_held.clear()
    tracemalloc.start()
    try:
        result = build_report(run_dir)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(result.summary) == CELLS and result.summary["requests"].sum() == REQUESTS
    assert rows and max(rows) <= REQUESTS // CELLS  # never more than one cell's rows per read
    assert max(others_held) == 0, "another cell's rows were still held when a cell was read"
    # One cell is a tenth of the run; the summary, curves and readings together stay well
    # under what the run's rows in one frame take.
    assert peak < all_at_once / 2, (peak, all_at_once)


def test_read_requests_reads_only_the_columns_asked_and_fills_older_ones(
    run_dir: Path,
) -> None:
    run = load_run(run_dir)
    cell_id = run.cells["cell_id"].iloc[0]
    frame = run.cell_requests(cell_id, ("latency_ms", "ok", "ttfb_ms"))
    assert list(frame.columns) == ["latency_ms", "ok", "ttfb_ms"]
    assert frame["ttfb_ms"].isna().all()  # the synthetic run writes no ttfb_ms, like schema 3
    assert len(frame) == REQUESTS // CELLS
    assert run.cell_requests("no-such-cell", ("ok",)).empty


def test_summary_does_not_depend_on_the_order_of_rows(run_dir: Path, tmp_path: Path) -> None:
    """Format 4 writes rows in completion batches: the same rows in any order give the same
    summary."""
    shuffled = tmp_path / "run"
    shutil.copytree(run_dir, shuffled)
    for path in shuffled.glob("cells/*/requests.parquet"):
        frame = pd.read_parquet(path)
        frame.sample(frac=1.0, random_state=7).to_parquet(path, index=False)
    before, after = load_run(run_dir), load_run(shuffled)
    a = aggregate.build_summary(before.cells, before.cell_requests, "run")
    b = aggregate.build_summary(after.cells, after.cell_requests, "run")
    pd.testing.assert_frame_equal(a, b)


def test_a_notebooks_frame_is_its_own_and_the_reports_reads_the_same_rows(run_dir: Path) -> None:
    """cell_requests gives a frame a notebook can assign to; the report's pass reads the same
    rows without a copy of its own (every_request: read-only)."""
    run = load_run(run_dir)
    cell_id = run.cells["cell_id"].iloc[0]
    frame = run.cell_requests(cell_id, ("latency_ms", "ok"))
    shared = run.every_request(cell_id, ("latency_ms", "ok"))
    pd.testing.assert_frame_equal(frame, shared)
    frame.loc[frame.index[:3], "latency_ms"] = -1.0
    assert (frame["latency_ms"].iloc[:3] == -1.0).all()
    with pytest.raises(ValueError, match="read-only"):
        shared.loc[shared.index[:3], "latency_ms"] = -1.0
