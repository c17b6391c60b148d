"""upload_kb_in_flight: the server's peak RSS above idle per upload in flight, for upload
cells only, appended at the end of summary.csv's columns (schema 6)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from analysis import aggregate
from record import schema
from record.records import CellRecord, CellSpec


def test_per_upload_in_flight_and_nothing_for_other_scenarios() -> None:
    summary = pd.DataFrame(
        {
            "scenario_name": ["upload", "upload", "hello"],
            "users": [16, 4, 16],
            "server_rss_idle_bytes": [40e6, 40e6, 40e6],
            "server_rss_peak_bytes": [40e6 + 16 * 16 * 2**20, 40e6 + 4 * 2**17, 90e6],
        }
    )
    out = aggregate.add_upload_memory(summary)["upload_kb_in_flight"]
    assert out[0] == pytest.approx(16 * 1024) and out[1] == pytest.approx(128)
    assert math.isnan(out[2])


def test_older_summaries_without_rss_get_an_empty_column() -> None:
    out = aggregate.add_upload_memory(pd.DataFrame({"scenario_name": ["upload"], "users": [1]}))
    assert math.isnan(out["upload_kb_in_flight"][0])


def test_the_column_follows_schema_5s_with_a_version_bump() -> None:
    assert schema.SUMMARY_COLUMNS[schema.SUMMARY_COLUMNS.index("upload_kb_in_flight") - 1] == (
        "polls_waiting_max"
    )
    assert schema.SCHEMA_VERSION >= 6 and 5 in schema.READABLE_VERSIONS


def test_older_records_load_without_upload_or_rss() -> None:
    spec = CellSpec("sync", "asyncio", "hello", {}, users=1, repeat=1, threads=8, processes=1)
    data = spec.to_dict()
    del data["upload"]
    assert CellSpec.from_dict(data).upload is None
    record = CellRecord.from_dict(
        {"cell": data, "status": "failed", "suite": {"duration_s": 1, "warmup_s": 0}}
    )
    assert math.isnan(record.server_rss_idle_bytes) and math.isnan(record.server_rss_peak_bytes)
    with pytest.raises(ValueError, match="upload"):
        CellSpec("sync", "asyncio", "upload", {}, 1, 1, 8, 1, upload="mmap")


def test_report_reads_memory_per_upload_by_strategy_and_load() -> None:
    from analysis.readings.upload import upload_items

    summary = pd.DataFrame(
        {
            "scenario": ["upload-x"] * 3 + ["hello"],
            "variant": ["sync+buffered", "sync+buffered", "sync+streamed", "sync"],
            "users": [16, 1, 16, 16],
            "upload_kb_in_flight": [16500.0, 17000.0, 90.0, math.nan],
        }
    )
    assert upload_items(summary) == [
        "sync+buffered on upload-x: 17,000 KiB at 1, 16,500 KiB at 16 uploads in flight",
        "sync+streamed on upload-x: 90 KiB at 16 uploads in flight",
    ]
    assert upload_items(summary.iloc[3:]) == []
