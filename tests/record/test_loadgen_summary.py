"""loadgen.json and its per-worker entries are typed records: one shape from both writers,
validated when built, read back equal, older layouts read, a broken file named in one line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from record.errors import UserError
from record.loadgen_summary import (
    LOADGEN_FILE,
    HubLag,
    LoadgenSummary,
    WorkerRecord,
    read_summary,
    write_summary,
)
from record.window import Window

LAG = HubLag(
    samples=200,
    p50_ms=0.3,
    p99_ms=12.5,
    max_ms=80.0,
    cpu_busiest_pct=61.0,
    cpu_busiest_100ms_pct=98.0,
)


def summary(**changes: object) -> LoadgenSummary:
    fields: dict = dict(
        window=Window(10.0, 12.0),
        t0=9.0,
        stopped_at=12.5,
        records=30,
        requests=20,
        outside=10,
        locust_requests=30,
        workers=(
            WorkerRecord(
                worker=0, host="a", pid=1, cpu_pct=40.0, records=15, client_id="c0", lag=LAG
            ),
            WorkerRecord(worker=1, host="b", local=False, cpu_pct=None, records=15),
        ),
        problems=("worker 1 lost",),
        refused=("c9: token",),
        master_lag=HubLag(samples=90, p50_ms=0.1, p99_ms=0.8, max_ms=1.5, cpu_busiest_pct=4.0),
    )
    fields.update(changes)
    return LoadgenSummary(**fields)


def test_written_summary_reads_back_equal(tmp_path: Path) -> None:
    original = summary()
    write_summary(tmp_path, original)
    assert read_summary(tmp_path) == original
    on_disk = json.loads((tmp_path / LOADGEN_FILE).read_text())
    assert on_disk["workers"][0]["client_id"] == "c0" and "client_id" not in on_disk["workers"][1]


def test_no_file_is_none(tmp_path: Path) -> None:
    assert read_summary(tmp_path) is None


def test_counts_that_do_not_add_up_are_refused() -> None:
    with pytest.raises(ValueError, match="records 31 != requests 20"):
        summary(records=31)
    with pytest.raises(ValueError, match="negative"):
        WorkerRecord(worker=0, records=-1)


def test_a_broken_file_is_one_line_naming_it(tmp_path: Path) -> None:
    (tmp_path / LOADGEN_FILE).write_text(json.dumps({"schema_version": 4, "records": 1}))
    with pytest.raises(UserError, match=r"loadgen.json: not a valid loadgen summary"):
        read_summary(tmp_path)


def test_older_worker_entries_read() -> None:
    """A local process's entry before `local`, `client_id` or the clock figures existed."""
    old = WorkerRecord.from_dict({"worker": 0, "host": "h", "pid": 7, "cpu_pct": 12.5})
    assert old.local and old.client_id == "" and old.offset_s is None and old.cpu == 12.5
    assert math.isnan(WorkerRecord.from_dict({"worker": 2}).cpu)


def test_load_seconds_and_slots_default() -> None:
    data = summary().to_dict()
    del data["slots"]
    read = LoadgenSummary.from_dict(data)
    assert read.slots == 0 and read.load_s == pytest.approx(3.5)


def test_lag_figures_read_back_and_unknown_ones_are_nan(tmp_path: Path) -> None:
    write_summary(tmp_path, summary())
    on_disk = json.loads((tmp_path / LOADGEN_FILE).read_text())
    assert on_disk["workers"][0]["lag"] == LAG.to_dict()
    # Worker 1 sent no lag (lost before its end): JSON has no NaN, so its figures are null.
    assert on_disk["workers"][1]["lag"]["p99_ms"] is None
    read = read_summary(tmp_path)
    assert read is not None
    assert read.workers[0].lag == LAG and read.master_lag.samples == 90
    unknown = read.workers[1].lag
    assert unknown.samples == 0 and math.isnan(unknown.p50_ms) and math.isnan(unknown.max_ms)
    assert read.lag_p99_ms == 12.5  # the processes that timed requests: the master is not one


def test_a_summary_from_before_the_probe_reads_with_nan_lag() -> None:
    data = summary().to_dict()
    del data["master_lag"]
    for worker in data["workers"]:
        del worker["lag"]
    read = LoadgenSummary.from_dict(data)
    assert all(math.isnan(w.lag.p99_ms) and w.lag.samples == 0 for w in read.workers)
    assert math.isnan(read.master_lag.cpu_busiest_pct) and math.isnan(read.lag_p99_ms)


def test_lag_figures_are_checked_when_built(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="negative"):
        HubLag(samples=-1)
    with pytest.raises(ValueError, match="negative"):
        HubLag(samples=1, p50_ms=-0.1, p99_ms=1.0, max_ms=2.0)
    with pytest.raises(ValueError, match=r"p50 3\.0 <= p99 1\.0"):
        HubLag(samples=2, p50_ms=3.0, p99_ms=1.0, max_ms=4.0)
    data = summary().to_dict()
    data["workers"][0]["lag"] = [1, 2]
    (tmp_path / LOADGEN_FILE).write_text(json.dumps({"schema_version": 4, **data}))
    with pytest.raises(UserError, match="not a valid loadgen summary"):
        read_summary(tmp_path)
