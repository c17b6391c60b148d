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
    LoadgenSummary,
    WorkerRecord,
    read_summary,
    write_summary,
)
from record.window import Window


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
            WorkerRecord(worker=0, host="a", pid=1, cpu_pct=40.0, records=15, client_id="c0"),
            WorkerRecord(worker=1, host="b", local=False, cpu_pct=None, records=15),
        ),
        problems=("worker 1 lost",),
        refused=("c9: token",),
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
