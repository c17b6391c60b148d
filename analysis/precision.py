"""How precisely each cell's req/s is known: a 95 % confidence interval, the coefficient of
variation, and whether the figure is stable enough to rank on.

- With several valid repeats of a configuration, the repeats are the samples: a Student t
  interval of their mean (the variation that matters on these machines is between runs and
  repeats, not between the seconds of one window).
- With one, the samples are the window's throughput per second (per shorter bin when the window
  has fewer than MIN_BINS seconds: cellstats.rate_series), which is autocorrelated (a stall
  spans seconds), so a plain bootstrap would be too narrow: a circular block bootstrap
  (Politis & Romano 1992) with blocks of about n^(1/3) bins (Hall, Horowitz & Jing 1995)
  keeps neighbouring bins together.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

BOOTSTRAP_ROUNDS = 2000
SEED = 20240611  # the same data always gives the same interval
MIN_BINS = 8  # samples of a cell's own throughput, whatever its window's length
# A cell is stable when its interval's half-width is within this share of its req/s.
STABLE_HALF_WIDTH = 0.10
PRECISION_COLUMNS = ["rps_ci_low", "rps_ci_high", "cv_pct", "stable"]


def t_critical_95(dof: int) -> float:
    """Student t's two-sided 95 % critical value for `dof` degrees of freedom. scipy.special's
    inverse t CDF, the function scipy.stats.t.ppf itself calls: the same value, without
    importing scipy.stats (about a second of every report with repeats)."""
    from scipy import special

    return float(special.stdtrit(dof, 0.975))


def t_interval(values: np.ndarray) -> tuple[float, float]:
    """95 % Student t interval of the mean of independent samples (NaN below two)."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n < 2:
        return math.nan, math.nan
    half = float(t_critical_95(n - 1) * values.std(ddof=1) / math.sqrt(n))
    mean = float(values.mean())
    return mean - half, mean + half


def block_bootstrap_interval(
    series: np.ndarray, rounds: int = BOOTSTRAP_ROUNDS
) -> tuple[float, float]:
    """95 % circular block bootstrap interval of the mean of a time series."""
    x = np.asarray(series, dtype=float)
    n = len(x)
    if n < 3:
        return math.nan, math.nan
    block = max(1, round(n ** (1 / 3)))
    blocks = math.ceil(n / block)
    rng = np.random.default_rng(SEED)
    starts = rng.integers(0, n, size=(rounds, blocks))
    idx = (starts[:, :, None] + np.arange(block)[None, None, :]) % n
    means = x[idx.reshape(rounds, -1)[:, :n]].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def cell_precision(rates: np.ndarray) -> dict[str, float]:
    """Interval and CV of one cell from its own window's throughput series (before repeats
    are considered)."""
    x = np.asarray(rates, dtype=float)
    lo, hi = block_bootstrap_interval(x)
    cv = float(x.std(ddof=1) / x.mean() * 100) if len(x) >= 2 and x.mean() > 0 else math.nan
    return {"rps_ci_low": lo, "rps_ci_high": hi, "cv_pct": cv}


CONFIG_KEYS = ["variant", "loop", "processes", "scenario", "users", "rate"]


def across_repeats(summary: pd.DataFrame) -> pd.DataFrame:
    """Where a configuration has two or more valid repeats, every one of its rows gets the
    t interval of the repeats' mean and their CV; then `stable` for every row."""
    out = summary.copy()
    valid = out[out["valid"] & out["rps"].notna()]
    keys = [k for k in CONFIG_KEYS if k in out]
    for _, group in valid.groupby(keys, dropna=False):
        if len(group) < 2:
            continue
        values = group["rps"].to_numpy(float)
        lo, hi = t_interval(values)
        mean = values.mean()
        out.loc[group.index, "rps_ci_low"] = max(lo, 0.0)  # no rate is below zero
        out.loc[group.index, "rps_ci_high"] = hi
        out.loc[group.index, "cv_pct"] = values.std(ddof=1) / mean * 100 if mean > 0 else math.nan
    half = (out["rps_ci_high"] - out["rps_ci_low"]) / 2
    out["stable"] = (half <= STABLE_HALF_WIDTH * out["rps"]) & half.notna()
    return out


def separated(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Two intervals that do not overlap; an unknown interval separates from nothing."""
    if any(math.isnan(v) for v in (*a, *b)):
        return False
    return a[1] < b[0] or b[1] < a[0]


def half_width_pct(values: Sequence[float]) -> float:
    """Half-width of the t interval of the mean, in % of the mean; infinite below two values
    (the adaptive-repeat rule of harness/repeats.py asks this)."""
    arr = np.asarray(list(values), dtype=float)
    lo, hi = t_interval(arr)
    if math.isnan(lo) or not arr.mean() > 0:
        return math.inf
    return float((hi - lo) / 2 / arr.mean() * 100)
