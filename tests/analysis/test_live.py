"""The progress line and the report judge a cell with the same rule (analysis/validity.py):
what the live line calls ok, the report never calls invalid, and the reverse."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from analysis import aggregate
from analysis.live import LiveJudge
from analysis.load import load_run
from record.records import CellRecord
from record.verdict import Verdict
from tests.analysis.fixtures import T0, cell, steady_requests, write_cell, write_run


def _verdicts(run_dir: Path) -> tuple[dict[str, Verdict], dict[str, tuple[str, str]]]:
    """(live, report): status word and notes for every cell, live in the run's order."""
    run = load_run(run_dir)
    judge = LiveJudge()
    live = {}
    for cell_id in run.run.cells:
        cell_dir = run.cell_dir(cell_id)
        live[cell_id] = judge(CellRecord.read(cell_dir), cell_dir)
    summary = aggregate.build_summary(run.cells, run.cell_requests, run.run_id).set_index("cell_id")
    report = {c: (summary.loc[c, "status"], summary.loc[c, "notes"]) for c in summary.index}
    return live, report


@pytest.mark.parametrize(
    ("case", "requests", "note"),
    [
        # sync at 10 users on /sleep?ms=50 can do 20 req/s at most; 60 is 3x its bound
        ("above its bound", steady_requests(60, 50.0), "3.00x the model bound"),
        ("no requests", steady_requests(1, 50.0).iloc[0:0], "no requests completed"),
    ],
)
def test_live_line_and_report_agree(tmp_path: Path, case: str, requests, note: str) -> None:  # type: ignore[no-untyped-def]
    bad = cell("sync", users=10)
    good = cell("threadpool", users=10)
    write_run(tmp_path, [good, bad])
    write_cell(tmp_path, good, requests=steady_requests(150, 50.0), window=(T0 + 1, T0 + 3))
    write_cell(tmp_path, bad, requests=requests, window=(T0 + 1, T0 + 3))
    live, report = _verdicts(tmp_path)
    assert report[bad.cell_id][0] == "invalid" and note in report[bad.cell_id][1], case
    assert live[bad.cell_id][0] == "invalid" and note in live[bad.cell_id][1], case
    assert report[good.cell_id][0] == live[good.cell_id][0] == "ok"


def test_live_line_shows_failed_cells_with_their_reason(tmp_path: Path) -> None:
    failed = cell("sync", users=10)
    write_run(tmp_path, [failed])
    write_cell(tmp_path, failed, requests=None, window=None, status="failed", reason="boom")
    live, report = _verdicts(tmp_path)
    assert live[failed.cell_id][:2] == ("failed", "boom")
    assert report[failed.cell_id][0] == "failed"


def test_a_cell_invalid_only_for_its_generator_keeps_its_rps_for_calibrate(
    tmp_path: Path,
) -> None:
    """A run calls a cell whose generator's cores passed 90 % invalid (rps NaN); calibrate
    measures the generator at exactly that limit and counts it (rps_beside_generator). A cell
    with another fault as well is counted by neither."""
    busy, busy_and_over = cell("threadpool", users=10), cell("sync", users=10)
    write_run(tmp_path, [busy, busy_and_over])
    write_cell(tmp_path, busy, requests=steady_requests(150, 50.0), loadgen_cpu=95.0)
    # sync at 10 users on /sleep?ms=50 does 20 req/s at most: 60 is 3x its bound
    write_cell(tmp_path, busy_and_over, requests=steady_requests(60, 50.0), loadgen_cpu=95.0)
    live, report = _verdicts(tmp_path)
    only = live[busy.cell_id]
    assert only.status == report[busy.cell_id][0] == "invalid"
    assert "load generator cores at 95% CPU" in only.line
    assert math.isnan(only.rps) and only.rps_beside_generator == pytest.approx(150, rel=0.05)
    both = live[busy_and_over.cell_id]
    assert math.isnan(both.rps) and math.isnan(both.rps_beside_generator)
