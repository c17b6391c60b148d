"""The machine's speed next to each cell, and what `compare` does when it does not explain
the CPU-bound cells: pure functions over arrays, no I/O.

Two readings of the speed loop (a run's start and end) miss a slowdown that comes and goes
while the CPU-bound cells run: in a real A/A pair, both CPU-bound cells lost 18-25 % together
while the two readings said the machine was 4 % faster, and the verdict blamed the code. So:

- The harness times the loop on the server's cores between cells (cell.json `speed`:
  before_s, after_s). A configuration's machine change is then the mean log reading next to
  its own repeats in the new run minus the same in the base run; its variance is each side's
  scatter of repeat readings over n (never below the loop's own noise) plus the change within
  each repeat (before vs after: the cell ran somewhere in between, a uniform's spread²/12).
  Configurations without such readings (older runs) keep the run's two-point correction.
- Whatever the correction, CPU-bound cells that still move *together* (their median
  corrected change significant and at least MIN_EFFECT) say the readings missed something
  that hit all of them — the machine, or a change of the code common to all of them, which
  no reading can tell apart. Their verdicts become "inconclusive (machine?)", never a
  regression; a cell that moved significantly beyond the common movement keeps its verdict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# One timing of the speed loop (best of 3 × ~0.05-0.1 s) is taken to be good to about 2 %.
SPEED_NOISE = 0.02
INCONCLUSIVE = "inconclusive"
MACHINE_ASKED = "machine?"
# With 3 or more cells the common movement is a median (variance π/2 · σ²/k); with 2, a mean.
MEDIAN_EFFICIENCY = math.pi / 2


@dataclass(frozen=True)
class ConfigSpeed:
    """Per configuration: readings' mean log, that mean's variance, and repeats read."""

    mlog: float
    var: float
    repeats: int


def config_speeds(
    readings: Mapping[str, Sequence[float]], configs: Mapping[str, str]
) -> dict[str, ConfigSpeed]:
    """cell id → its loop readings (seconds), cell id → its configuration (the summary's
    config_id) ⇒ configuration → its ConfigSpeed. Readings that are not positive finite
    numbers are dropped; a cell left with none, or not in the summary, does not count."""
    per_config: dict[str, list[np.ndarray]] = {}
    for cell_id, values in readings.items():
        v = np.array([float(x) for x in values], dtype=float)
        v = v[np.isfinite(v) & (v > 0)]
        if len(v) and cell_id in configs:
            per_config.setdefault(configs[cell_id], []).append(np.log(v))
    out = {}
    for config, logs in per_config.items():
        means = np.array([x.mean() for x in logs])
        spread = np.array([x.max() - x.min() for x in logs])
        n = len(logs)
        scatter = float(means.var(ddof=1)) if n > 1 else 0.0
        var = max(scatter, SPEED_NOISE**2) / n + float(np.mean(spread**2)) / 12 / n
        out[config] = ConfigSpeed(float(means.mean()), var, n)
    return out


def per_config_machine(
    configs: Sequence[str],
    base: Mapping[str, ConfigSpeed],
    new: Mapping[str, ConfigSpeed],
    run_log_ratio: float,
    run_var: float,
    run_df: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per configuration: the machine's log change (> 0: the new run's machine was slower),
    its variance and degrees of freedom, and whether it came from the cell's own readings
    (both sides read) rather than the run's."""
    own = np.array([c in base and c in new for c in configs], dtype=bool)
    ratio = np.full(len(configs), run_log_ratio, dtype=float)
    var = np.full(len(configs), run_var, dtype=float)
    for i, config in enumerate(configs):
        if own[i]:
            ratio[i] = new[config].mlog - base[config].mlog
            var[i] = new[config].var + base[config].var
    df = np.where(own, math.inf, run_df)
    return ratio, var, df, own


@dataclass(frozen=True)
class Common:
    """How far the CPU-bound cells' corrected changes moved together (a log change) and
    whether that is beyond what the speed readings explain."""

    log_change: float = math.nan
    se: float = math.nan
    cells: int = 0
    found: bool = False


NO_COMMON = Common()


def common_movement(
    d_corr: np.ndarray,
    se: np.ndarray,
    machine_var: np.ndarray,
    cpu: np.ndarray,
    judged: np.ndarray,
    t: float,
    min_effect: float,
) -> Common:
    """The CPU-bound cells' median corrected change and its standard error. The cells'
    own errors average out over k cells; the correction's error (machine_var) may be common
    to all of them (one run-level reading), so it is not divided by k. Needs 2 cells: one
    cell cannot move "together"."""
    use = cpu & judged & np.isfinite(d_corr) & np.isfinite(se)
    k = int(use.sum())
    if k < 2:
        return NO_COMMON
    m = float(np.median(d_corr[use]))
    own = np.maximum(se[use] ** 2 - machine_var[use], 0.0)
    efficiency = MEDIAN_EFFICIENCY if k >= 3 else 1.0
    se_m = math.sqrt(efficiency * float(own.mean()) / k + float(machine_var[use].mean()))
    found = abs(m) > t * se_m and abs(math.expm1(m)) >= min_effect
    return Common(m, se_m, k, found)


def inconclusive_cells(
    common: Common,
    d_corr: np.ndarray,
    se: np.ndarray,
    t: np.ndarray,
    cpu: np.ndarray,
    corrected: np.ndarray,
    min_effect: float,
) -> np.ndarray:
    """CPU-bound cells judged changed whose change does not stand out from the common
    movement (relative to it: not significant, or the other way): the machine may be
    behind them as much as the code."""
    if not common.found:
        return np.zeros(len(d_corr), dtype=bool)
    rel = d_corr - common.log_change
    se_rel = np.sqrt(se**2 + common.se**2)
    with np.errstate(invalid="ignore"):
        stands_out = (
            (np.abs(rel) > t * se_rel)
            & (np.abs(np.expm1(rel)) >= min_effect)
            & (np.sign(rel) == np.sign(d_corr))
        )
    return cpu & corrected & ~stands_out


def waiting_with_machine(
    d_raw: np.ndarray,
    shift_log: np.ndarray,
    shift_var: np.ndarray,
    cpu: np.ndarray,
    corrected: np.ndarray,
    sign: int,
    min_effect: float,
) -> np.ndarray:
    """Waiting cells judged changed while the readings next to them (where both runs have
    them: a run's two readings at its ends say little of one cell) say the machine itself
    changed, significantly, the same way and by at least half as much. On a small shared
    machine a waiting cell's server still needs CPU (its loop, its sockets), so a slower
    machine slows it too, by an unknown share of what it does to a CPU-bound cell: no
    correction can be made, and the change is not blamed on the code."""
    effect = -sign * shift_log  # what the machine would do to a CPU-bound cell
    with np.errstate(invalid="ignore"):
        machine_moved = (np.abs(shift_log) > 1.96 * np.sqrt(shift_var)) & (
            np.abs(np.expm1(shift_log)) >= min_effect
        )
        covers = (np.sign(effect) == np.sign(d_raw)) & (np.abs(effect) >= np.abs(d_raw) / 2)
    return ~cpu & corrected & machine_moved & covers
