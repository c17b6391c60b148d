"""One cell's window requests → its statistics: pure functions on one cell's frame, no I/O.

The report is built cell by cell (aggregate.summarize_requests reads one cell's requests,
takes its row of statistics here and lets the frame go), so what the analysis holds at once is
one cell's requests, never the run's.

Percentiles are exact nearest-rank values of the raw per-request latencies (every reported
value is a latency that was observed), not Locust's rounded buckets. Request files are written
in completion batches while the load runs, so nothing here relies on the rows' order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis import openloop, precision
from record.window import Window, completed_at

PERCENTILES = {"p50_ms": 50.0, "p90_ms": 90.0, "p95_ms": 95.0, "p99_ms": 99.0, "p999_ms": 99.9}
TTFB = {"ttfb_p50_ms": 50.0, "ttfb_p99_ms": 99.0}
# The request columns the statistics of a cell read (load.read_requests fills the ones an
# older run lacks with NaN).
STAT_COLUMNS = ("start", "latency_ms", "ok", "intended_start", "ttfb_ms", "bytes_sent")
# One row of request_stats, in this order.
REQUEST_STATS = [
    "cell_id",
    "duration_s",
    "requests",
    "failures",
    "error_rate",
    "rps",
    "mean_ms",
    *PERCENTILES,
    "max_ms",
    "rps_ci_low",
    "rps_ci_high",
    "cv_pct",
    *openloop.CORRECTED,
    "late_pct",
    "unanswered_pct",
    *TTFB,
    "kb_sent_per_request",
]


def _rank(pct: float, n: int) -> int:
    """Nearest rank: 1-based position of the smallest value with pct % of n at or below it."""
    # Rounded first: 99.9 / 100 * 1000 is 999.0000000000001 in floating point.
    return max(1, math.ceil(round(pct / 100.0 * n, 9)))


def nearest_rank(ordered: np.ndarray, pct: float) -> float:
    """The nearest-rank pct percentile of already sorted values (NaN when there are none)."""
    n = len(ordered)
    return float(ordered[_rank(pct, n) - 1]) if n else math.nan


def nearest_ranks(values: np.ndarray, pcts: Sequence[float]) -> list[float]:
    """The nearest-rank percentiles `pcts` of unsorted values (NaN each when there are none):
    the values a full sort would give, found by one partial sort around their ranks
    (np.partition), four times faster than sorting a cell's latencies (the report's largest
    cost on a run of millions of requests)."""
    n = len(values)
    if not n:
        return [math.nan] * len(pcts)
    ranks = [_rank(pct, n) - 1 for pct in pcts]
    placed = np.partition(np.asarray(values, dtype=float), sorted(set(ranks)))
    return [float(placed[k]) for k in ranks]


def latency_stats(latency_ms: np.ndarray) -> dict[str, float]:
    """Mean, the PERCENTILES (nearest rank) and the maximum of a cell's latencies."""
    if len(latency_ms) == 0:
        return {"mean_ms": math.nan, **dict.fromkeys(PERCENTILES, math.nan), "max_ms": math.nan}
    values = np.asarray(latency_ms, dtype=float)
    ranked = nearest_ranks(values, [*PERCENTILES.values(), 100.0])
    return {
        "mean_ms": float(values.mean()),
        **dict(zip([*PERCENTILES, "max_ms"], ranked, strict=True)),
    }


def ttfb_stats(requests: pd.DataFrame) -> dict[str, float]:
    """Nearest-rank time to first byte of the successful requests that measured one (a
    streamed response); NaN for a cell without any, and for runs older than schema 4."""
    if "ttfb_ms" not in requests or not len(requests):
        return dict.fromkeys(TTFB, math.nan)
    ttfb = requests["ttfb_ms"].to_numpy(float)[requests["ok"].to_numpy(bool)]
    return dict(zip(TTFB, nearest_ranks(ttfb[np.isfinite(ttfb)], list(TTFB.values())), strict=True))


def sent_stats(requests: pd.DataFrame) -> dict[str, float]:
    """kb_sent_per_request: the mean body KiB of the requests that say what they sent
    (record column bytes_sent, schema 9); NaN where none does (and in older runs)."""
    if "bytes_sent" not in requests or not len(requests):
        return {"kb_sent_per_request": math.nan}
    sent = requests["bytes_sent"].to_numpy(float)
    known = sent[np.isfinite(sent)]
    return {"kb_sent_per_request": float(known.mean()) / 1024.0 if len(known) else math.nan}


def cell_stats(requests: pd.DataFrame, duration_s: float) -> dict[str, float]:
    """Counts, rate and latency of one cell's window requests (already windowed)."""
    total = len(requests)
    ok = requests["ok"].to_numpy(bool) if total else np.array([], bool)
    failures = int((~ok).sum())
    ok_latency = requests["latency_ms"].to_numpy(float)[ok] if total else np.array([])
    return {
        "requests": total,
        "failures": failures,
        "error_rate": failures / total if total else math.nan,
        "rps": total / duration_s if duration_s > 0 else math.nan,
        **latency_stats(ok_latency),
    }


def request_stats(
    cell_id: str,
    window: Window,
    requests: pd.DataFrame,
    slots: pd.DataFrame | None = None,
) -> dict[str, float | int | str]:
    """One cell's row of request statistics (REQUEST_STATS): counts, rate, exact latency
    percentiles, the interval of its req/s, its open-loop figures and its time to first
    byte. `requests` holds the cell's window rows only (record.window)."""
    duration = window.duration_s
    series = rate_series(requests, window)
    return {
        "cell_id": cell_id,
        "duration_s": duration,
        **cell_stats(requests, duration),
        **precision.cell_precision(series),
        **openloop.open_loop_stats(requests, _rank, slots),
        **ttfb_stats(requests),
        **sent_stats(requests),
    }


def per_second(requests: pd.DataFrame, t0: float, seconds: int | None = None) -> pd.DataFrame:
    """Completions and nearest-rank p95 latency in each whole second since t0, built once for
    every per-second figure. A second with no completion is a row with rps 0 (and p95 NaN):
    dropping it would hide exactly the stalls that matter. `seconds` bins are returned
    (default: up to the last completion); completions outside them are left out."""
    done = completed_at(requests["start"].to_numpy(float), requests["latency_ms"].to_numpy(float))
    second = np.floor(done - t0).astype(np.int64)
    if seconds is None:
        seconds = int(second.max()) + 1 if len(second) else 0
    keep = (second >= 0) & (second < seconds)
    second, latency = second[keep], requests["latency_ms"].to_numpy(float)[keep]
    counts = np.bincount(second, minlength=seconds)[:seconds] if seconds > 0 else np.array([], int)
    p95 = np.full(seconds, np.nan)
    if len(second):
        # Grouped by second (rows come in completion order: a stable sort of nearly sorted
        # seconds is one pass), then each second's nearest-rank p95 picked by a partial
        # sort: five times faster than sorting every row by (second, latency).
        latency = latency[np.argsort(second, kind="stable")]
        ends = np.cumsum(counts)
        for s in np.flatnonzero(counts):
            n = int(counts[s])
            k = _rank(95.0, n) - 1
            p95[s] = np.partition(latency[ends[s] - n : ends[s]], k)[k]
    return pd.DataFrame({"second": np.arange(seconds), "rps": counts.astype(float), "p95_ms": p95})


def window_series(requests: pd.DataFrame, window: Window) -> pd.DataFrame:
    """per_second over the whole seconds of a measured window (a partial last second is left
    out: its count would read as a drop in throughput)."""
    return per_second(requests, window.start, max(0, math.floor(window.duration_s)))


def rate_series(requests: pd.DataFrame, window: Window) -> np.ndarray:
    """Throughput (req/s) in equal bins over the window, for the interval of the mean rate:
    whole seconds, or shorter bins when the window has fewer than precision.MIN_BINS seconds
    (a 2 s window still gives 8 samples). Empty bins are zeros."""
    duration = window.duration_s
    if duration <= 0:
        return np.array([], dtype=float)
    bins = max(precision.MIN_BINS, math.floor(duration))
    width = duration / bins
    done = completed_at(requests["start"].to_numpy(float), requests["latency_ms"].to_numpy(float))
    index = np.floor((done - window.start) / width).astype(np.int64)
    index = index[(index >= 0) & (index < bins)]
    return np.bincount(index, minlength=bins)[:bins] / width


def stability_cv(series: pd.DataFrame) -> float:
    """Coefficient of variation of per-second throughput (idle seconds count as zero)."""
    rps = series["rps"].to_numpy(float)
    if len(rps) < 2 or rps.mean() <= 0:
        return math.nan
    return float(rps.std(ddof=1) / rps.mean())


def corrected_series(slots: pd.DataFrame, window: Window) -> pd.DataFrame:
    """An open-loop cell's corrected latency over its window, per whole second in which it was
    seen: an answered slot at its answer, a slot still unanswered at the stop in the window's
    last second, counted as waiting until the stop (censored there: its true wait is longer).
    Columns: second, seen (slots), p95_corrected_ms (nearest rank; NaN for a second with none),
    censored (unanswered slots in that second). An overloaded server's queue then shows as a
    corrected latency that grows over the window, about one second per second when twice its
    capacity is offered, instead of stopping where its answers stopped."""
    seconds = max(0, math.floor(window.duration_s))
    empty = {"second": np.arange(seconds), "seen": 0.0, "p95_corrected_ms": math.nan}
    if slots.empty or seconds == 0:
        return pd.DataFrame({**empty, "censored": 0})
    intended = slots["intended_start"].to_numpy(float)
    corrected = slots["corrected_ms"].to_numpy(float)
    answered = slots["answered"].to_numpy(bool)
    last = window.start + seconds - 1e-6  # inside the last whole second
    seen_at = np.where(answered, intended + corrected / 1000.0, last)
    # per_second bins by completion (start + latency) and ranks latency: a row per slot that
    # completes where it was seen, with its corrected latency.
    series = per_second(
        pd.DataFrame({"start": seen_at - corrected / 1000.0, "latency_ms": corrected}),
        window.start,
        seconds,
    )
    censored = np.bincount(
        np.floor(seen_at[~answered] - window.start).astype(np.int64).clip(0, seconds - 1),
        minlength=seconds,
    )[:seconds]
    return pd.DataFrame(
        {
            "second": series["second"],
            "seen": series["rps"],
            "p95_corrected_ms": series["p95_ms"],
            "censored": censored,
        }
    )
