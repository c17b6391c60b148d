"""Each cell's latencies as an HdrHistogram interval log (`latency.hlog` in the cell folder),
written with the `hdrhistogram` package in the log format (version 1.2) that HdrHistogram's
HistogramLogProcessor, its plotter and wrk2/vegeta users' tools read.

- One interval per second of the measured window (the last one may be shorter), each a
  tagged histogram: `service` (sent → last byte, successful requests, by completion time) and,
  for open-loop cells, `corrected` (slot → last byte, every slot of the window, by slot time,
  an unanswered slot counting as waiting until the load stopped, as summary.csv counts it).
- Values are integer microseconds (as wrk2 logs them), 1 µs to 1 hour at 3 significant digits:
  a percentile read back agrees with summary.csv's exact one to HdrHistogram's stated
  precision. With HistogramLogProcessor, `-outputValueUnitRatio 1000` prints milliseconds.
- Timestamps are seconds since the window's start (`#[BaseTime: ...]` holds it).
- HdrHistogram rounds a percentile's rank to the nearest count where summary.csv's nearest
  rank rounds up: where the two ranks differ, the values are neighbouring samples."""

from __future__ import annotations

import io as stdio
import itertools
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader, HistogramLogWriter

from analysis.load import RunData
from record import io
from record.schema import HLOG_FILE
from record.window import completed_at

FILE_NAME = HLOG_FILE
LOWEST_US, HIGHEST_US = 1, 3_600_000_000  # 1 µs .. 1 hour: any latency a cell can record
DIGITS = 3  # significant digits: HdrHistogram's usual precision, 0.1 %
INTERVAL_S = 1.0
# 3 significant digits: 2048 sub-buckets (11 bits) per power of two, from 1 µs up; the counts
# array keeps the upper half of each (HALF_BITS), the first bucket whole.
SUB_BUCKET_BITS = 11
SUB_BUCKET_MASK = (1 << SUB_BUCKET_BITS) - 1
HALF_BITS = SUB_BUCKET_BITS - 1
SERVICE, CORRECTED = "service", "corrected"
MS_RATIO = 1000.0  # the Interval_Max column in ms (values are µs)


@dataclass(frozen=True)
class Series:
    """One tag's samples: when each counts (epoch seconds) and its latency (ms)."""

    tag: str
    at: np.ndarray
    latency_ms: np.ndarray


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def counts_indexes(latency_ms: np.ndarray) -> np.ndarray:
    """Each latency's place in new_histogram's counts array, in whole µs clipped to its range,
    as HdrHistogram's record_value computes it (bucket = the value's bit length above the
    sub-bucket bits; its sub-bucket = the value shifted down by the bucket): computed for
    every value at once, so that a cell's histograms are filled by counting, with no Python
    call per value or per bucket."""
    us = np.clip(np.rint(latency_ms * 1000.0), LOWEST_US, HIGHEST_US).astype(np.int64)
    # frexp's exponent is an integer's bit length (exact: every value is below 2**53).
    bucket = np.frexp((us | SUB_BUCKET_MASK).astype(float))[1] - SUB_BUCKET_BITS
    return ((bucket + 1) << HALF_BITS) + (us >> bucket) - (1 << HALF_BITS)


def interval_histograms(
    edges: list[float], at: np.ndarray, latency_ms: np.ndarray
) -> Iterator[HdrHistogram]:
    """One histogram per interval [edges[k], edges[k+1]) (the last one closed at its end) of
    the samples counted at `at`, in order: one count over the cell (np.unique on interval and
    counts index together), each interval's counts then copied into the histogram.

    The same histogram is refilled for every interval, so use each before asking for the
    next. Its counts array is 190 KB, and a dense interval × index count as big again: for
    a one-hour cell (3,600 intervals) the two held at once took gigabytes and most of the
    report's time, whatever the cell's request count. The sparse count is as big as the
    cell's distinct (interval, index) pairs, at most its samples."""
    count = len(edges) - 1
    interval = np.searchsorted(np.asarray(edges), at, side="right") - 1
    interval[at == edges[-1]] = count - 1  # the last interval holds its end
    keep = (interval >= 0) & (interval < count)
    index = counts_indexes(latency_ms[keep])
    size = int(index.max()) + 1 if len(index) else 1
    keys, tallies = np.unique(interval[keep] * size + index, return_counts=True)
    slots = keys % size
    bounds = np.searchsorted(keys, np.arange(count + 1) * size)
    hist = new_histogram()
    counts = np.ctypeslib.as_array(hist.counts)
    for lo, hi in itertools.pairwise(bounds.tolist()):
        used, tally = slots[lo:hi], tallies[lo:hi]
        counts[used] = tally
        if len(used):  # min, max and total as recording each value would have left them
            hist.set_internal_tacking_values(int(used[0]), int(used[-1]), int(tally.sum()))
        else:  # as a new histogram holds them
            hist.total_count, hist.min_value, hist.max_value = 0, sys.maxsize, 0
        yield hist
        counts[used] = 0


def log_text(window: tuple[float, float], series: list[Series]) -> str:
    """The interval log of one cell's window."""
    start, end = window
    out = stdio.StringIO()
    writer = HistogramLogWriter(out)
    writer.output_log_format_version()
    stamp = datetime.fromtimestamp(start, UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
    # Written here: the package's output_start_time does not run (it calls a method that
    # datetime lacks); the line is the one Java's HistogramLogWriter writes.
    out.write(f"#[StartTime: {start:.3f} (seconds since epoch), {stamp}]\n")
    writer.output_base_time(start * 1000.0)
    writer.base_time = start * 1000.0
    writer.output_legend()
    # Whole seconds, the last one up to the window's end (a sliver under 1 ms joins it).
    count = max(1, math.ceil((end - start) / INTERVAL_S - 0.001))
    edges = [*(start + k * INTERVAL_S for k in range(count)), end]
    filled = zip(*(interval_histograms(edges, s.at, s.latency_ms) for s in series), strict=True)
    for (lo, hi), hists in zip(itertools.pairwise(edges), filled, strict=True):
        for s, hist in zip(series, hists, strict=True):
            hist.set_start_time_stamp(lo * 1000.0)
            hist.set_end_time_stamp(hi * 1000.0)
            out.write(f"Tag={s.tag},")
            writer.output_interval_histogram(hist, max_value_unit_ratio=MS_RATIO)
    return out.getvalue()


def cell_series(requests: pd.DataFrame, slots: pd.DataFrame | None) -> list[Series]:
    """The service series of a cell's window requests and, with slots, the corrected one."""
    ok = requests["ok"].to_numpy(bool)
    start = requests["start"].to_numpy(float)[ok]
    latency = requests["latency_ms"].to_numpy(float)[ok]
    out = [Series(SERVICE, completed_at(start, latency), latency)]
    if slots is not None and len(slots):
        intended = slots["intended_start"].to_numpy(float)
        out.append(Series(CORRECTED, intended, slots["corrected_ms"].to_numpy(float)))
    return out


def write_cell_hlog(
    cell_dir: Path,
    window: tuple[float, float],
    requests: pd.DataFrame,
    slots: pd.DataFrame | None,
) -> Path:
    path = cell_dir / FILE_NAME
    io.write_text(path, log_text(window, cell_series(requests, slots)))
    return path


def read_hlog(path: Path) -> dict[str, HdrHistogram]:
    """Every interval of a log added up, per tag (what HistogramLogProcessor reports)."""
    totals: dict[str, HdrHistogram] = {}
    reader = HistogramLogReader(str(path), new_histogram())
    try:
        while True:
            hist = reader.get_next_interval_histogram()
            if hist is None:
                break
            tag = hist.get_tag() or ""
            totals.setdefault(tag, new_histogram()).add(hist)
    finally:
        reader.close()
    return totals


def percentile_ms(hist: HdrHistogram, pct: float) -> float:
    if hist.get_total_count() == 0:
        return math.nan
    return hist.get_value_at_percentile(pct) / 1000.0


def write_run_hlogs(run: RunData) -> list[Path]:
    """latency.hlog in the folder of every cell that measured a window (one cell's rows at
    a time)."""
    written = []
    for cell_id, record in run.records.items():
        if record.window is None or record.status in ("failed", "interrupted"):
            continue
        requests = run.cell_requests(cell_id, ["start", "latency_ms", "ok"])
        window = (record.window.start, record.window.end)
        cell_dir = run.cell_dir(cell_id)
        written.append(write_cell_hlog(cell_dir, window, requests, run.cell_slots(cell_id)))
        del requests  # let this cell's rows go before the next cell's are read
    return written
