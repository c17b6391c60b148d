"""The streaming writer (record/stream.py): batches in, Parquet row groups out, the window rule
applied once, slots of an open loop, files named only when complete, memory bounded."""

from __future__ import annotations

import math
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from record.stream import RecordWriter, encode_batch, new_columns
from record.window import Window

T0 = 1_700_000_000.0
WINDOW = Window(T0 + 1, T0 + 3)
ROOT = Path(__file__).resolve().parents[2]
nan = math.nan


def _batch(rows: list[tuple], endpoints: list[str], **extra: float) -> dict:
    """rows: (start, latency_ms, endpoint index, status, bytes, ok, intended_start, ttfb_ms
    [, bytes_sent: NaN when left out])."""
    cols = new_columns()
    for row in rows:
        for name, value in zip(cols, (*row, nan)[: len(cols)], strict=True):
            cols[name].append(value)
    return {**encode_batch(cols, endpoints), **extra}


def test_a_request_type_rides_on_its_endpoint_index(tmp_path: Path) -> None:
    """One name sent two ways (a WebSocket message and a GET) keeps both types (schema 7)."""
    cols = new_columns()
    for row in [
        (T0 + 1.5, 1.0, 0, 0, 5, 1, nan, nan, 0.0),
        (T0 + 1.6, 2.0, 1, 200, 5, 1, nan, nan, 7.0),
    ]:
        for name, value in zip(cols, row, strict=True):
            cols[name].append(value)
    writer = RecordWriter(tmp_path, WINDOW, open_loop=False)
    writer.add(encode_batch(cols, ["/ws/echo", "/ws/echo"], ["WS", "GET"]))
    writer.close()
    rows = pd.read_parquet(tmp_path / "requests.parquet").sort_values("start")
    assert list(rows["bytes_sent"]) == [0.0, 7.0]  # schema 9
    assert list(zip(rows["endpoint"], rows["request_type"], strict=True)) == [
        ("/ws/echo", "WS"),
        ("/ws/echo", "GET"),
    ]
    with pytest.raises(ValueError, match="2 request types for 1 endpoint"):
        encode_batch(new_columns(), ["/a"], ["GET", "WS"])


def test_batches_from_two_workers_split_by_the_window(tmp_path: Path) -> None:
    writer = RecordWriter(tmp_path, WINDOW, open_loop=False)
    writer.add(
        _batch(
            [(T0 + 0.5, 10.0, 0, 200, 5, 1, nan, nan), (T0 + 2.0, 10.0, 0, 500, 5, 0, nan, 3.0)],
            ["/a"],
        ),
        worker=0,
    )
    # Worker 1's clock runs 0.25 s ahead of the master's: its rows move back onto the
    # master's clock before the window rule applies.
    writer.add(
        _batch(
            [(T0 + 1.2, 10.0, 0, 200, 7, 1, nan, nan), (T0 + 3.2, 10.0, 0, 200, 7, 1, nan, nan)],
            ["/b"],
        ),
        worker=1,
        offset_s=0.25,
    )
    assert not (tmp_path / "requests.parquet").exists()  # no final name before close
    counts = writer.close()
    assert (counts.requests, counts.outside, counts.records) == (2, 2, 4)
    inside = pd.read_parquet(tmp_path / "requests.parquet").sort_values("start")
    outside = pd.read_parquet(tmp_path / "outside.parquet")
    assert list(inside["endpoint"]) == ["/a", "/b"]
    assert list(inside["worker"]) == [0, 1] and list(inside["ok"]) == [False, True]
    assert inside["start"].iloc[1] == pytest.approx(T0 + 2.95)
    assert inside["ttfb_ms"].iloc[0] == 3.0 and inside["ttfb_ms"].isna().iloc[1]
    assert sorted(outside["start"]) == pytest.approx([T0 + 0.5, T0 + 0.95])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside.parquet", "requests.parquet"]
    mask = os.umask(0)
    os.umask(mask)
    for p in tmp_path.iterdir():  # result files follow the umask, not mkstemp's 0600
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask, p.name


def test_open_loop_slots_count_unanswered_ones_as_waiting_until_the_stop(tmp_path: Path) -> None:
    writer = RecordWriter(tmp_path, WINDOW, open_loop=True)
    rows = [
        (T0 + 1.5, 20.0, 0, 200, 5, 1, T0 + 1.5, nan),  # on time, answered in 20 ms
        (T0 + 1.62, 20.0, 0, 200, 5, 1, T0 + 1.6, nan),  # 20 ms late
        (T0 + 2.5, nan, 1, 0, 0, 0, T0 + 2.5, nan),  # sent, no answer by the stop
        (nan, nan, 1, 0, 0, 0, T0 + 2.9, nan),  # never sent
        (nan, nan, 1, 0, 0, 0, T0 + 3.5, nan),  # after the window: not a slot of it
    ]
    writer.add(_batch(rows, ["/a", ""], stopped_at=T0 + 3.25))
    counts = writer.close()
    assert counts.slots == 4 and counts.records == 2  # unanswered slots are no requests
    slots = pd.read_parquet(tmp_path / "slots.parquet")
    assert list(slots["answered"]) == [True, True, False, False]
    assert list(slots["corrected_ms"]) == pytest.approx([20.0, 40.0, 750.0, 350.0])
    assert list(slots["late"]) == [False, True, False, True]


def test_an_abandoned_writer_leaves_no_file(tmp_path: Path) -> None:
    writer = RecordWriter(tmp_path, WINDOW, open_loop=True)
    writer.add(_batch([(T0 + 1.5, 1.0, 0, 200, 1, 1, nan, nan)], ["/a"]))
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_a_batch_with_a_short_column_is_refused(tmp_path: Path) -> None:
    batch = _batch([(T0 + 1.5, 1.0, 0, 200, 1, 1, nan, nan)], ["/a"])
    batch["cols"]["status"] = b""
    writer = RecordWriter(tmp_path, WINDOW, open_loop=False)
    with pytest.raises(ValueError, match="status"):
        writer.add(batch)
    writer.abort()


def test_a_long_stream_keeps_every_record_in_bounded_memory(tmp_path: Path) -> None:
    """3 M records in 300 batches: the file has them all, and the writing process grows by
    far less than holding them would take (about 200 MB as Python rows)."""
    script = textwrap.dedent(
        f"""
        import resource, sys
        from array import array
        from pathlib import Path
        from record.stream import RecordWriter, encode_batch, new_columns
        from record.window import Window
        n = 10_000
        cols = new_columns()
        for i in range(n):
            cols["start"].append(100.0 + i / n)
            cols["latency_ms"].append(1.0)
            cols["endpoint"].append(0)
            cols["status"].append(200)
            cols["bytes"].append(10)
            cols["ok"].append(1)
            cols["intended_start"].append(float("nan"))
            cols["ttfb_ms"].append(float("nan"))
            cols["bytes_sent"].append(0.0)
        writer = RecordWriter(Path({str(tmp_path)!r}), Window(0.0, 1e12), open_loop=False)
        batch = encode_batch(cols, ["/hello"])
        writer.add(batch)
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for _ in range(299):
            writer.add(batch)
        counts = writer.close()
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
        print(counts.requests, grown)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    requests, grown_kib = map(int, out.stdout.split())
    assert requests == 3_000_000
    assert grown_kib < 60_000, f"writer grew by {grown_kib} KiB"
    import pyarrow.parquet as pq

    assert pq.ParquetFile(tmp_path / "requests.parquet").metadata.num_rows == 3_000_000
