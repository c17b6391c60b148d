"""latency.hlog: written by `report` in every measured cell's folder, read back with the
hdrhistogram package, 1 s intervals tagged service (and corrected for open loop), percentiles
agreeing with summary.csv to HdrHistogram's 3 significant digits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from hdrh.log import HistogramLogReader

import run_bench
from analysis import hlog
from record.records import CellSpec
from tests.analysis.fixtures import T0, cell, requests_frame, write_cell, write_run

WINDOW = (T0 + 1, T0 + 3)
PCTS = {"p50_ms": 50.0, "p90_ms": 90.0, "p99_ms": 99.0}


def _agree(hdr_ms: float, exact_ms: float) -> bool:
    """Equal to 3 significant digits (HdrHistogram's stated precision), plus the 1 µs the
    log's integer microseconds round to."""
    return abs(hdr_ms - exact_ms) <= exact_ms * 10**-hlog.DIGITS + 0.001


def _requests(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    done = np.sort(rng.uniform(WINDOW[0], WINDOW[1], n))
    latency = rng.lognormal(3.0, 0.6, n)  # about 20 ms, a long right tail
    ok = rng.random(n) > 0.01  # failures never count in the latency figures
    return requests_frame(list(done - latency / 1000), list(latency), list(ok))


def test_report_writes_an_hlog_that_reads_back_and_matches_summary(tmp_path: Path) -> None:
    c = cell("coroutine", users=50, params={"ms": 20})
    write_run(tmp_path, [c])
    write_cell(tmp_path, c, requests=_requests(4000, 1), window=WINDOW)
    assert run_bench.main(["report", str(tmp_path), "--quiet"]) == 0
    path = tmp_path / "cells" / c.cell_id / hlog.FILE_NAME
    text = path.read_text()
    assert text.startswith("#[Histogram log format version 1.2]")
    assert "#[BaseTime: 1700000001.000000" in text
    # Two 1 s intervals, each tagged, relative to the window's start.
    lines = [x for x in text.splitlines() if x.startswith("Tag=")]
    assert [x.split(",")[:3] for x in lines] == [
        ["Tag=service", "0.000000", "1.000000"],
        ["Tag=service", "1.000000", "1.000000"],
    ]
    # The package's own reader: intervals with their tag and absolute times.
    reader = HistogramLogReader(str(path), hlog.new_histogram())
    first = reader.get_next_interval_histogram()
    reader.close()
    assert first is not None and first.get_tag() == "service"
    assert first.get_start_time_stamp() == WINDOW[0] * 1000
    totals = hlog.read_hlog(path)
    summary = pd.read_csv(tmp_path / "summary.csv").iloc[0]
    assert totals["service"].get_total_count() == summary["requests"] - summary["failures"]
    for column, pct in PCTS.items():
        got = hlog.percentile_ms(totals["service"], pct)
        assert _agree(got, float(summary[column])), (column, got, summary[column])


def test_open_loop_cells_log_corrected_latency_from_every_slot(tmp_path: Path) -> None:
    c = CellSpec("coroutine", "asyncio", "sleep", {"ms": 20}, 200, 1, 8, 1, rate=500.0)
    write_run(tmp_path, [c])
    rng = np.random.default_rng(2)
    intended = WINDOW[0] + np.arange(1000) / 500.0
    waited = rng.exponential(5.0, 1000)  # ms between slot and send
    latency = 20.0 + rng.exponential(3.0, 1000)
    reqs = requests_frame(list(intended + waited / 1000), list(latency))
    reqs["intended_start"] = intended
    done = intended + (waited + latency) / 1000
    reqs = reqs[done < WINDOW[1]]
    write_cell(tmp_path, c, requests=reqs, window=WINDOW)
    answered = done < WINDOW[1]
    corrected = np.where(answered, (done - intended) * 1000, (WINDOW[1] - intended) * 1000)
    slots = pd.DataFrame(
        {
            "intended_start": intended,
            "corrected_ms": corrected,
            "answered": answered,
            "ok": answered,
            "late": waited > 5.0,
            "worker": np.zeros(1000, dtype=np.int32),
        }
    )
    slots.to_parquet(tmp_path / "cells" / c.cell_id / "slots.parquet", index=False)
    run_bench.main(["report", str(tmp_path), "--quiet"])
    totals = hlog.read_hlog(tmp_path / "cells" / c.cell_id / hlog.FILE_NAME)
    assert set(totals) == {"service", "corrected"}
    assert totals["corrected"].get_total_count() == 1000  # every slot, answered or not
    summary = pd.read_csv(tmp_path / "summary.csv").iloc[0]
    for column, pct in {"p50_corrected_ms": 50.0, "p99_corrected_ms": 99.0}.items():
        got = hlog.percentile_ms(totals["corrected"], pct)
        assert _agree(got, float(summary[column])), (column, got, summary[column])
    assert _agree(hlog.percentile_ms(totals["service"], 50.0), float(summary["p50_ms"]))


def test_counted_histograms_equal_recording_each_value() -> None:
    """interval_histograms fills counts by numpy; HdrHistogram's own record_value, one value at
    a time, must give the same histogram in each interval (counts, min, max, total), an empty
    interval after a full one included (one histogram is refilled for every interval)."""
    rng = np.random.default_rng(3)
    latency = rng.lognormal(2.0, 2.0, 5000)  # µs to hours: every bucket size
    at = rng.uniform(0.0, 3.0, 5000)
    at[(at >= 1.0) & (at < 2.0)] -= 1.0  # nothing in [1, 2)
    at[:3] = [2.0, 3.0, 3.5]  # on an edge, on the window's end (kept), after it (dropped)
    edges = [0.0, 1.0, 2.0, 3.0]
    counted = hlog.interval_histograms(edges, at, latency)
    for k, hist in enumerate(counted):
        last = k == len(edges) - 2
        inside = (at >= edges[k]) & ((at <= edges[k + 1]) if last else (at < edges[k + 1]))
        one_by_one = hlog.new_histogram()
        us = np.clip(np.rint(latency[inside] * 1000), 1, hlog.HIGHEST_US).astype(int)
        for value in us.tolist():
            one_by_one.record_value(value)
        assert hist.encode() == one_by_one.encode()
        assert hist.get_total_count() == one_by_one.get_total_count() == inside.sum()
        assert hist.get_min_value() == one_by_one.get_min_value()
        assert hist.get_max_value() == one_by_one.get_max_value()
    assert k == len(edges) - 2  # every interval


def test_a_failed_cell_gets_no_hlog(tmp_path: Path) -> None:
    c = cell("sync")
    write_run(tmp_path, [c])
    write_cell(tmp_path, c, requests=None, window=None, status="failed", reason="no start")
    run_bench.main(["report", str(tmp_path), "--quiet"])
    assert not (tmp_path / "cells" / c.cell_id / hlog.FILE_NAME).exists()
