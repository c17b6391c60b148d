"""What the spectrum and time-series charts (and the stability reading) draw from the raw rows
of the cells they show, reduced to a few thousand numbers per cell. Each shown cell's requests
are read once, with only the columns needed, and let go before the next cell is read; the
chart processes are handed these small curves, never request rows."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.cellstats import per_second, window_series
from analysis.forked import in_processes
from analysis.load import RunData
from record.window import Window

SPECTRUM_MAX_PCT = 99.9
SPECTRUM_POINTS = 1500  # per line: enough for a smooth curve, small enough for a light SVG
# Whole seconds are counted from the start of warm-up; this absorbs float error in
# window_end - t0 so a window of exactly N seconds keeps its last second.
SECOND_SLACK = 1e-6
COLUMNS = ("start", "latency_ms", "ok")


@dataclass(frozen=True)
class Curves:
    """One shown cell's curves."""

    spectrum: tuple[np.ndarray, np.ndarray] | None  # x = 1 / (1 - percentile), latency ms
    window: pd.DataFrame  # per whole second of the window (cellstats.window_series)
    series: pd.DataFrame  # per second from the start of warm-up, warm-up and tail included


def spectrum_curve(ok_latency_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Latency by percentile up to SPECTRUM_MAX_PCT (x as 1 / (1 - p), HdrHistogram style),
    log-spaced samples of it when there are more than SPECTRUM_POINTS; None with fewer than
    two points to draw."""
    lat = np.sort(np.asarray(ok_latency_ms, dtype=float))
    n = len(lat)
    pct = np.arange(1, n + 1) / n * 100 if n else np.array([])
    keep = pct <= SPECTRUM_MAX_PCT
    if keep.sum() < 2:
        return None
    x, y = 1 / (1 - pct[keep] / 100), lat[keep]
    if len(x) > SPECTRUM_POINTS:  # log-spaced samples keep the tail, drop the bulk
        idx = np.unique(np.geomspace(1, len(x), SPECTRUM_POINTS).astype(int) - 1)
        x, y = x[idx], y[idx]
    return x, y


def cell_curves(run: RunData, row: object, warmup_s: float) -> Curves | None:
    """The curves of one cell (a summary row with cell_id and window); None when no request
    completed in its window."""
    cell_id = str(row.cell_id)  # type: ignore[attr-defined]
    measured: Window = row.window  # type: ignore[attr-defined]
    start, end = measured.start, measured.end
    inside = run.cell_requests(cell_id, COLUMNS)
    if inside.empty:
        return None
    ok = inside["ok"].to_numpy(bool)
    spectrum = spectrum_curve(inside["latency_ms"].to_numpy(float)[ok])
    window = window_series(inside, measured)
    frame = pd.concat([inside, run.outside(cell_id, COLUMNS)], ignore_index=True)
    del inside
    t0 = start - warmup_s
    series = per_second(frame, t0, math.floor(end - t0 + SECOND_SLACK))
    return Curves(spectrum, window, series)


def shown_curves(run: RunData, shown: pd.DataFrame) -> dict[str, Curves]:
    """cell_id → Curves of every shown cell that measured anything, the cells shared out
    between worker processes (analysis/forked.py), each reading one cell at a time."""
    rows = list(shown.itertuples())
    warmup = run.run.settings.warmup_s
    curves = in_processes(lambda row: cell_curves(run, row, warmup), rows)
    return {row.cell_id: c for row, c in zip(rows, curves, strict=True) if c is not None}


def spectra_of(curves: Mapping[str, Curves]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {cid: c.spectrum for cid, c in curves.items() if c.spectrum is not None}
