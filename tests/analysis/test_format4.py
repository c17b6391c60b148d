"""Results format 4 in the summary: time to first byte, the counts reconciled with Locust's,
the generator's workers and the calibrated ceiling; older runs keep loading."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from analysis import aggregate
from analysis.figures import lines as plot
from analysis.load import load_run
from analysis.report.build import build_report
from record import io
from record.records import CellSpec
from tests.analysis.fixtures import T0, cell, steady_requests, write_cell, write_run

CALIBRATION = {
    "ceiling_rps_per_worker": 50.0,
    "listener_overhead_pct": 3.5,
    "wrk_rps": 400.0,
    "harness_rps": 100.0,
    "harness_wrk_ratio": 0.25,
    "measured_at": T0 - 3600,
}
WORKERS = [
    {"worker": i, "host": "127.0.0.1", "pid": 100 + i, "local": True, "offset_s": 0.0,
     "rtt_ms": 0.1, "cpu_pct": cpu, "records": 40, "locust_requests": 40}
    for i, cpu in enumerate([35.0, 61.5])
]  # fmt: skip


def _patch(path: Path, **fields: Any) -> None:
    io.write_json(path, {**json.loads(path.read_text()), **fields})


def _cell_json(run_dir: Path, c: CellSpec) -> Path:
    return run_dir / "cells" / c.cell_id / "cell.json"


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """Three cells at 20 req/s over a 2 s window, 10 users on /sleep?ms=50:
    streamed: ttfb 1..40 ms, two workers, counts and a note; busy: one worker at 45 req/s
    (90 % of the 50 req/s ceiling); old: no ttfb_ms column, no workers, no counts."""
    streamed, busy, old = cell("coroutine"), cell("threadpool"), cell("coroutine", users=20)
    write_run(tmp_path, [streamed, busy, old])
    _patch(tmp_path / "run.json", calibration=CALIBRATION)
    reqs = steady_requests(20, 50.0, T0 + 1, T0 + 3)
    ttfb = np.arange(1.0, len(reqs) + 1)
    write_cell(
        tmp_path, streamed, requests=reqs.assign(ttfb_ms=np.random.default_rng(1).permutation(ttfb))
    )
    write_cell(
        tmp_path, busy, requests=steady_requests(45, 50.0, T0 + 1, T0 + 3).assign(ttfb_ms=math.nan)
    )
    write_cell(tmp_path, old, requests=steady_requests(20, 50.0, T0 + 1, T0 + 3))
    _patch(
        _cell_json(tmp_path, streamed),
        records=82, locust_requests=82, loadgen_workers=WORKERS,
        notes=["records 82 vs Locust 82.05: within 0.1 %"],
    )  # fmt: skip
    _patch(_cell_json(tmp_path, busy), records=90, locust_requests=90)
    return tmp_path


def _summary(run_dir: Path) -> pd.DataFrame:
    run = load_run(run_dir)
    summary = aggregate.build_summary(run.cells, run.cell_requests, run.run_id, run.cell_slots)
    return summary.set_index("cell_id")


def test_format4_columns(run_dir: Path) -> None:
    s = _summary(run_dir)
    streamed, busy, old = (c.cell_id for c in (cell("coroutine"), cell("threadpool"),
                                               cell("coroutine", users=20)))  # fmt: skip
    row = s.loc[streamed]
    assert row["requests"] == 40
    # Nearest rank over 40 values 1..40 in any order: p50 is the 20th, p99 the 40th.
    assert (row["ttfb_p50_ms"], row["ttfb_p99_ms"]) == (20.0, 40.0)
    assert (row["records"], row["locust_requests"], row["loadgen_workers"]) == (82, 82, 2)
    assert row["worker_cpu_max_pct"] == 61.5
    assert row["ceiling_pct"] == pytest.approx(20.0 / (50.0 * 2) * 100)
    assert "within 0.1 %" in row["notes"] and row["valid"] and row["status"] == "ok"
    near = s.loc[busy]
    assert near["loadgen_workers"] == 1 and math.isnan(near["worker_cpu_max_pct"])
    assert near["ceiling_pct"] == pytest.approx(90.0)
    assert near["valid"] and near["generator_limited"]
    assert "90% of the load generator's calibrated ceiling" in near["notes"]
    assert math.isnan(near["ttfb_p50_ms"])  # measured nowhere: NaN, not zero
    before = s.loc[old]
    assert math.isnan(before["ttfb_p50_ms"]) and pd.isna(before["records"])
    assert not before["generator_limited"] and before["notes"] == ""


def test_summary_csv_leaves_what_was_not_measured_empty(run_dir: Path) -> None:
    build_report(run_dir)
    csv = pd.read_csv(run_dir / "summary.csv", dtype=str, keep_default_na=False)
    old = csv[csv["cell_id"] == cell("coroutine", users=20).cell_id].iloc[0]
    assert (old["ttfb_p50_ms"], old["records"], old["worker_cpu_max_pct"]) == ("", "", "")
    assert old["loadgen_workers"] == "1"
    streamed = csv[csv["cell_id"] == cell("coroutine").cell_id].iloc[0]
    assert (streamed["records"], streamed["locust_requests"]) == ("82", "82")


def test_run_without_calibration_has_no_ceiling(run_dir: Path) -> None:
    _patch(run_dir / "run.json", calibration={})
    s = _summary(run_dir)
    assert s["ceiling_pct"].isna().all()
    assert not s["notes"].str.contains("ceiling").any()


def test_report_shows_calibration_ceiling_and_workers(run_dir: Path) -> None:
    result = build_report(run_dir)
    html = result.report_path.read_text()
    assert "Generator calibration (" in html
    assert "ceiling 50 req/s per Locust worker; recording overhead 3.5 %" in html
    assert "Locust/wrk ratio 0.25 (100 vs 400 req/s)" in html
    busy = cell("threadpool").cell_id
    assert f"calibrated ceiling (above 80 % of it): {busy} (90 %)" in html
    assert "<h2>Load generator workers</h2>" in html
    section = html.split("<h2>Load generator workers</h2>")[1].split("<h2>")[0]
    assert cell("coroutine").cell_id in section and "61.5" in section and "35.0" in section
    assert busy not in section  # one worker: nothing to break down


def test_report_without_calibration_or_workers_says_nothing_of_them(run_dir: Path) -> None:
    _patch(run_dir / "run.json", calibration={})
    _patch(_cell_json(run_dir, cell("coroutine")), loadgen_workers=WORKERS[:1])
    html = build_report(run_dir).report_path.read_text()
    assert "Generator calibration" not in html and "calibrated ceiling" not in html
    assert "Load generator workers" not in html


def test_throughput_chart_draws_the_labelled_ceiling(run_dir: Path) -> None:
    from tests.analysis.test_charts import assert_inside

    run = load_run(run_dir)
    summary = aggregate.build_summary(run.cells, run.cell_requests, run.run_id)
    fig = plot.throughput_vs_users(summary)
    try:
        labels = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
        assert "load generator's calibrated ceiling" in labels
        lines = {ln.get_ydata()[0] for ax in fig.axes for ln in ax.get_lines()
                 if ln.get_linestyle() != "-" and len(set(ln.get_ydata())) == 1}  # fmt: skip
        assert {50.0, 100.0} <= lines  # one worker: 50 req/s; two: 100
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        assert "generator ceiling (2 workers with a core each)" in texts
        assert "generator ceiling (1 worker with a core each)" in texts
        assert_inside(fig, "throughput")
    finally:
        plt.close(fig)


def test_live_line_notes_the_ceiling_as_the_report_does(run_dir: Path) -> None:
    from analysis.live import LiveJudge
    from record.records import CellRecord

    busy = run_dir / "cells" / cell("threadpool").cell_id
    status, line, rps, _ = LiveJudge()(CellRecord.read(busy), busy)
    assert status == "ok" and rps == pytest.approx(45.0)
    assert "90% of the load generator's calibrated ceiling" in line


def test_local_workers_sharing_one_core_make_one_workers_ceiling() -> None:
    """Two local workers on the generator's one core are one core's worth of load; a remote
    worker brings its own machine."""
    from analysis.load import _workers_figures
    from record.calibration import Calibration
    from record.loadgen_summary import WorkerRecord
    from record.records import CellRecord, CellSettings, CellSpec, Placement

    def record(workers: list[dict]) -> CellRecord:
        return CellRecord(
            cell=CellSpec("sync", "asyncio", "hello", {}, 4, 1, 8, 1),
            status="failed",
            settings=CellSettings(2.0, 0.5, 0.01),
            placement=Placement("split", (0,), (1,)),
            workers=max(1, sum(1 for w in workers if w["local"])),
            loadgen_workers=tuple(WorkerRecord.from_dict(w) for w in workers),
        )

    calibration = Calibration(ceiling_rps_per_worker=1000.0)
    two_local = record([{"local": True}, {"local": True}])
    assert _workers_figures(two_local, calibration)["ceiling_rps"] == 1000.0
    with_remote = record([{"local": True}, {"local": True}, {"local": False}])
    figures = _workers_figures(with_remote, calibration)
    assert figures["ceiling_rps"] == 2000.0 and figures["loadgen_workers"] == 3
