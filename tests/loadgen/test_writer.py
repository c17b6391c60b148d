"""The records written off the event loop (loadgen/writer.py), with gevent alone: the same files
and counts as the RecordWriter on its own, a hub that stays free while a write takes long, a
bounded queue, and a bad batch or a failed write that still says so."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import gevent
import pandas as pd
import pytest

from loadgen import writer as offloop
from loadgen.lag import LagProbe
from loadgen.writer import OffLoopWriter
from record.stream import RecordWriter, encode_batch, new_columns
from record.window import Window

T0 = 1_700_000_000.0
WINDOW = Window(T0 + 1, T0 + 3)
nan = math.nan


def batch(k: int, rows: int = 500) -> dict[str, Any]:
    """Batch k: `rows` answered requests spread over T0 + k/10 .. T0 + (k+1)/10."""
    cols = new_columns()
    for i in range(rows):
        for name, value in zip(
            cols,
            (T0 + (k + i / rows) / 10, 2.0, 0, 200, 12, 1, nan, nan, 0.0),
            strict=True,
        ):
            cols[name].append(value)
    return encode_batch(cols, ["/hello"], ["GET"])


class SlowWriter(RecordWriter):
    """A RecordWriter whose every batch takes `pause_s` of blocking time, as a row group's
    compression and write does."""

    pause_s = 0.1

    def add(self, batch: dict[str, Any], *, worker: int = 0, offset_s: float = 0.0) -> None:
        time.sleep(self.pause_s)  # blocking: the real one, nothing here is monkey-patched
        super().add(batch, worker=worker, offset_s=offset_s)


def rows(folder: Path) -> pd.DataFrame:
    frames = [pd.read_parquet(folder / n) for n in ("requests.parquet", "outside.parquet")]
    return pd.concat(frames).sort_values("start", ignore_index=True)


def test_the_files_are_those_the_writer_makes_on_its_own(tmp_path: Path) -> None:
    batches = [batch(k) for k in range(40)]
    alone, off = tmp_path / "alone", tmp_path / "off"
    direct = RecordWriter(alone, WINDOW, open_loop=False)
    for b in batches:
        direct.add(b, worker=1, offset_s=0.05)
    counts = direct.close()
    writer = OffLoopWriter(RecordWriter(off, WINDOW, open_loop=False))
    for b in batches:
        writer.add(b, worker=1, offset_s=0.05)
        gevent.sleep(0)  # the load goes on between batches
    assert writer.close() == counts
    assert counts.records == 40 * 500 and 0 < counts.requests < counts.records
    pd.testing.assert_frame_equal(rows(off), rows(alone))
    assert sorted(p.name for p in off.iterdir()) == ["outside.parquet", "requests.parquet"]


def test_the_hub_stays_free_while_a_batch_takes_long_to_write(tmp_path: Path) -> None:
    """Five batches of 100 ms each: written on the hub they stall it 100 ms a time; off it,
    the probe sees the hub free while they are written."""

    def lag_while_writing(write: Any, close: Any) -> float:
        probe = LagProbe()
        probe.start(0.0, 10.0)
        for k in range(5):
            write(batch(k))
            gevent.sleep(0.05)
        close()
        return probe.figures().max_ms

    on_hub = SlowWriter(tmp_path / "on", WINDOW, open_loop=False)
    assert lag_while_writing(on_hub.add, on_hub.close) > 80.0
    off = OffLoopWriter(SlowWriter(tmp_path / "off", WINDOW, open_loop=False))
    started = time.perf_counter()
    assert lag_while_writing(off.add, off.close) < 50.0
    assert time.perf_counter() - started >= 5 * SlowWriter.pause_s  # it did write them


def test_a_full_queue_makes_the_adder_wait_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(offloop, "MAX_QUEUED", 2)
    monkeypatch.setattr(SlowWriter, "pause_s", 0.02)
    writer = OffLoopWriter(SlowWriter(tmp_path, WINDOW, open_loop=False))
    most = 0
    for k in range(12):
        writer.add(batch(k, rows=10))
        most = max(most, len(writer._queue))
    assert most <= 2
    assert writer.close().records == 12 * 10


def test_a_malformed_batch_is_refused_at_once(tmp_path: Path) -> None:
    writer = OffLoopWriter(RecordWriter(tmp_path, WINDOW, open_loop=False))
    bad = batch(0)
    bad["cols"]["status"] = b""
    with pytest.raises(ValueError, match="status"):
        writer.add(bad)
    writer.add(batch(1))
    assert writer.close().records == 500


def test_a_failed_write_is_raised_at_close_and_leaves_no_file(tmp_path: Path) -> None:
    class Broken(RecordWriter):
        def add(self, batch: dict[str, Any], *, worker: int = 0, offset_s: float = 0.0) -> None:
            raise OSError(28, "No space left on device")

    writer = OffLoopWriter(Broken(tmp_path, WINDOW, open_loop=False))
    writer.add(batch(0))
    with pytest.raises(OSError, match="No space left"):
        writer.close()
    assert list(tmp_path.iterdir()) == []
    assert writer.closed
    with pytest.raises(RuntimeError, match="closed"):
        writer.add(batch(1))


def test_an_aborted_writer_leaves_no_file(tmp_path: Path) -> None:
    writer = OffLoopWriter(RecordWriter(tmp_path, WINDOW, open_loop=False))
    writer.add(batch(0))
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_the_writer_thread_yields_to_the_hub(tmp_path: Path) -> None:
    """Its nice value is above the hub's (Linux keeps one per thread)."""
    writer = OffLoopWriter(RecordWriter(tmp_path, WINDOW, open_loop=False))
    try:
        nice = writer._pool.spawn(os.getpriority, os.PRIO_PROCESS, 0).get()
        assert nice >= min(offloop.WRITER_NICE, 19) and os.getpriority(os.PRIO_PROCESS, 0) < nice
    finally:
        writer.abort()
