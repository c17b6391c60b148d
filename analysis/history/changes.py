"""Change points in each series of per-run values, by E-Divisive means in Apache Otava's
deterministic variant (Fleming et al., "Hunter: Using Change Point Detection to Hunt for
Performance Regressions", ICPE 2023; after Matteson & James 2014): sliding-window splits that
maximise the energy distance between the two sides, kept when a two-sided t test between
the neighbouring segments passes, weakest points merged away. `otava.analysis` is the
package's own code (installed without its CLI's dependencies: see the Makefile).

A change point is reported only when the run-level intervals separate too: the segment
before and the segment after, each as the median of its runs' interval ends, do not overlap
(a split the runs' own precision cannot see is noise). A run's interval is its own (repeats,
or req/s's block bootstrap); a run with none (one repeat of p99 or of CPU per request) gets
the between-run noise the series shows (the sd of its run-to-run steps, the steps at change
points left out). Its size is the ratio of the segments'
medians with a Welch 95 % interval on log values. A CPU-bound series (cpu, hello, json ...)
whose change disappears once the machine-speed reading of each run is taken out (req/s ×
loop seconds, latency and CPU per request ÷ loop seconds) is marked "(machine)", as
`compare` does: the code is blamed only for what remains, when that alone would be reported."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from analysis.compare.stats import MIN_EFFECT
from analysis.history.series import direction
from analysis.precision import separated

MAX_PVALUE = 0.001  # Otava's default significance: a false split in about 1 of 1000 tests
WINDOW = 50  # Otava's default window of runs for the split step
MIN_RUNS = 6  # fewer runs hold no split with at least 3 a side
ALPHA = 0.05  # the size's interval, and whether the machine explains a change
Z95 = 1.96  # a run's interval from the between-run noise: 95 %, normal
CODE, MACHINE = "code", "machine"
CHANGE_COLUMNS = [
    "machine",
    "config",
    "metric",
    "run_index",
    "run_id",
    "commit",
    "before",
    "after",
    "change",
    "ci_lo",
    "ci_hi",
    "p_value",
    "cause",
]


@dataclass(frozen=True)
class Change:
    machine: str
    config: str
    metric: str
    run_index: int  # the first run after the change
    run_id: str
    commit: str
    before: float  # the segments' medians
    after: float
    change: float  # after / before - 1
    ci_lo: float
    ci_hi: float
    p_value: float  # Otava's t test between the segments
    cause: str  # CODE, or MACHINE when the machine's speed accounts for it

    @property
    def label(self) -> str:
        return f"{self.change:+.1%}" + (" (machine)" if self.cause == MACHINE else "")


def change_points(values: list[float]) -> list[tuple[int, float]]:
    """(index of the first point after, p value) of each change point Otava finds."""
    from otava.analysis import compute_change_points

    if len(values) < MIN_RUNS:
        return []
    points, _weak = compute_change_points(
        [float(v) for v in values],
        window_len=WINDOW,
        max_pvalue=MAX_PVALUE,
        min_magnitude=MIN_EFFECT,
    )
    return [(int(p.index), float(p.stats.pvalue)) for p in points]


def welch_log(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float, float]:
    """log(mean b / mean a) as a ratio − 1, with its Welch 95 % interval and p value."""
    from scipy import special  # scipy.stats would add seconds to every `history`

    la, lb = np.log(a[a > 0]), np.log(b[b > 0])
    d = float(lb.mean() - la.mean()) if len(la) and len(lb) else math.nan
    if len(la) < 2 or len(lb) < 2:
        return math.expm1(d), math.nan, math.nan, math.nan
    va, vb = la.var(ddof=1) / len(la), lb.var(ddof=1) / len(lb)
    se = math.sqrt(va + vb)
    if se == 0:
        return math.expm1(d), math.expm1(d), math.expm1(d), 0.0 if d else 1.0
    df = (va + vb) ** 2 / (va**2 / (len(la) - 1) + vb**2 / (len(lb) - 1))
    t = float(special.stdtrit(df, 1 - ALPHA / 2))
    p = float(2 * special.stdtr(df, -abs(d / se)))
    return math.expm1(d), math.expm1(d - t * se), math.expm1(d + t * se), p


def between_run_sd(values: np.ndarray, breaks: list[int]) -> float:
    """The sd of log values from one run to the next (√(mean Δ²/2), von Neumann's estimator),
    the steps at the change points left out: noise, not the changes being judged."""
    logs = np.log(np.where(values > 0, values, np.nan))
    steps = np.delete(np.diff(logs), [b - 1 for b in breaks if 0 < b < len(values)])
    steps = steps[np.isfinite(steps)]
    if len(steps) < 2:
        return 0.0
    return float(math.sqrt(np.mean(steps**2) / 2))


def widened(points: pd.DataFrame, breaks: list[int]) -> pd.DataFrame:
    """A run without an interval of its own (one repeat of a column other than req/s: a
    point) gets value × exp(±z·sd between runs); a run's own interval is kept."""
    values = points["value"].to_numpy(float)
    spread = math.exp(Z95 * between_run_sd(values, breaks))
    low, high = points["low"].to_numpy(float), points["high"].to_numpy(float)
    point = ~(high > low)
    low = np.where(point, values / spread, low)
    high = np.where(point, values * spread, high)
    return points.assign(low=low, high=high)


def _segment_interval(points: pd.DataFrame) -> tuple[float, float]:
    return float(points["low"].median()), float(points["high"].median())


def machine_explains(before: pd.DataFrame, after: pd.DataFrame, metric: str) -> bool:
    """Whether the change goes away once each run's machine speed is taken out: a machine
    slower by r moves req/s by 1/r and latency or CPU per request by r."""
    speeds = pd.concat([before["speed_s"], after["speed_s"]])
    if not (np.isfinite(speeds).all() and (speeds > 0).all()):
        return False
    sign = direction(metric)
    b = before["value"].to_numpy(float) * before["speed_s"].to_numpy(float) ** sign
    a = after["value"].to_numpy(float) * after["speed_s"].to_numpy(float) ** sign
    change, _lo, _hi, p = welch_log(b, a)
    # The code is blamed only when what remains would be reported on its own: as large as a
    # change the detection reports, and as significant as Otava's test asks.
    return not (abs(change) >= MIN_EFFECT and p < MAX_PVALUE)


def series_changes(points: pd.DataFrame) -> list[Change]:
    """The reported changes of one series (its points in run order)."""
    points = points.sort_values("run_index").reset_index(drop=True)
    found = change_points(points["value"].tolist())
    points = widened(points, [i for i, _ in found])
    bounds = [0, *(i for i, _ in found), len(points)]
    out = []
    for j, (index, p) in enumerate(found, start=1):
        before, after = points.iloc[bounds[j - 1] : index], points.iloc[index : bounds[j + 1]]
        if not separated(_segment_interval(before), _segment_interval(after)):
            continue
        change, lo, hi, _p = welch_log(
            before["value"].to_numpy(float), after["value"].to_numpy(float)
        )
        first = points.iloc[index]
        metric = str(first["metric"])
        cpu = bool(first["cpu_bound"])
        cause = MACHINE if cpu and machine_explains(before, after, metric) else CODE
        out.append(
            Change(
                machine=str(first["machine"]),
                config=str(first["config"]),
                metric=metric,
                run_index=int(first["run_index"]),
                run_id=str(first["run_id"]),
                commit=str(first["commit"]),
                before=float(before["value"].median()),
                after=float(after["value"].median()),
                change=change,
                ci_lo=lo,
                ci_hi=hi,
                p_value=p,
                cause=cause,
            )
        )
    return out


def all_changes(points: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Every reported change (CHANGE_COLUMNS), and how many series were examined."""
    rows: list[dict] = []
    groups = points.groupby(["machine", "config", "metric"], sort=True) if len(points) else []
    count = 0
    for _key, series in groups:
        count += 1
        rows += [asdict(c) for c in series_changes(series)]
    return pd.DataFrame(rows, columns=CHANGE_COLUMNS), count
