"""One cell's statistics (analysis/cellstats.py) on small inputs whose answers are known by
hand: exact nearest-rank percentiles, the cell's rate and errors, the per-second series with
its idle seconds, and the stability of the rate."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis import cellstats
from record.window import Window
from tests.analysis.fixtures import T0, requests_frame


def test_percentiles_are_exact_nearest_rank() -> None:
    latencies = np.arange(1, 1001, dtype=float)  # 1..1000 ms
    stats = cellstats.latency_stats(latencies[::-1].copy())
    assert stats["p50_ms"] == 500.0
    assert stats["p90_ms"] == 900.0
    assert stats["p95_ms"] == 950.0
    assert stats["p99_ms"] == 990.0
    assert stats["p999_ms"] == 999.0
    assert stats["max_ms"] == 1000.0
    assert stats["mean_ms"] == pytest.approx(500.5)


def test_percentiles_keep_sub_millisecond_precision() -> None:
    stats = cellstats.latency_stats(np.array([0.125, 0.25, 0.375, 0.5]))
    assert stats["p50_ms"] == 0.25
    assert stats["p99_ms"] == 0.5


def test_cell_stats_rate_and_errors() -> None:
    frame = requests_frame([T0] * 10, [10.0] * 8 + [500.0] * 2, ok=[True] * 8 + [False] * 2)
    stats = cellstats.cell_stats(frame, duration_s=2.0)
    assert stats["requests"] == 10 and stats["failures"] == 2
    assert stats["error_rate"] == pytest.approx(0.2)
    assert stats["rps"] == 5.0
    assert stats["max_ms"] == 10.0  # failed requests' latencies are not mixed in


def test_per_second_counts_completions() -> None:
    frame = requests_frame([T0 + 0.1, T0 + 0.2, T0 + 1.5], [10, 10, 10])
    series = cellstats.per_second(frame, T0)
    assert list(series["second"]) == [0, 1]
    assert list(series["rps"]) == [2, 1]


def test_per_second_has_a_zero_for_an_idle_second_and_the_cv_sees_it() -> None:
    # 10 completions in seconds 0, 1, 3 and 4 of the window; second 2 is a stall.
    busy = [T0 + s + i / 10 for s in (0, 1, 3, 4) for i in range(10)]
    frame = requests_frame(busy, [1.0] * len(busy))
    series = cellstats.window_series(frame, Window(T0, T0 + 5))
    assert list(series["second"]) == [0, 1, 2, 3, 4]
    assert list(series["rps"]) == [10, 10, 0, 10, 10]
    assert math.isnan(series["p95_ms"].iloc[2])
    # Without the zero the series would look perfectly steady (CV 0).
    assert cellstats.stability_cv(series) == pytest.approx(np.std([10, 10, 0, 10, 10], ddof=1) / 8)
    steady = cellstats.window_series(frame, Window(T0, T0 + 2))
    assert cellstats.stability_cv(steady) == 0.0


def test_per_second_p95_is_nearest_rank() -> None:
    latencies = [float(v) for v in range(1, 21)]  # 20 values in second 0
    frame = requests_frame([T0 + 0.1] * 20, latencies)
    series = cellstats.per_second(frame, T0 - 0.5)
    assert series["p95_ms"].iloc[0] == 19.0  # rank ceil(0.95 * 20) = 19, not an interpolation
    assert series["p95_ms"].iloc[0] == cellstats.latency_stats(np.array(latencies))["p95_ms"]
