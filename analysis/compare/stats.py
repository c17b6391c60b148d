"""The statistics of `compare`: pure functions over summary frames and arrays, no I/O.

The unit of replication is a *repeat* of a cell (or a run), never a second or a request:
seconds and requests inside one window share everything that varies between runs (the
machine's speed, what else it was doing), so treating them as independent samples calls
noise a change (an A/A test flagged 4 of 6 cells). Per configuration (the cell id without
its `-r<N>`) and side, the values of the valid repeats are the samples.

Method, per metric (req/s, p50, p99), all on logarithms so a change is a ratio:

- Difference of the mean logs with a Welch (1947) t interval, its degrees of freedom by
  Satterthwaite (1946). With 3 repeats a side a plain Welch test has about 4 degrees of
  freedom and, at 10 % noise, misses a 20 % change half the time; so each side's variance
  is shrunk toward the variance its other cells show, by the empirical-Bayes moment
  estimate of Smyth (2004, "limma"): a cell keeps its own variance where cells truly differ
  in noise, and borrows the run's where they do not (a few degrees of freedom become dozens).
- Between-run noise that repeats cannot see: how far the cells' changes scatter beyond what
  their repeats predict, a random-effects variance (DerSimonian & Laird 1986), each group
  (CPU-bound, waiting) centred on its median; cells beyond 3 robust SDs (MAD, Hampel 1974)
  are left out as real changes, not noise. It is added to every cell's variance.
- The machine: these machines drift 15–40 % between runs, equally in every repeat, so
  repeats alone cannot tell drift from change. Each run times a fixed pure-Python loop at
  its start and end (RunRecord.speed); r = new loop time / base loop time. CPU-bound cells
  (not waiting on sleeps or a backend) are corrected by it: req/s × r, latency ÷ r, with the
  loop's own uncertainty (its start-to-end spread, as if the cell ran anywhere in between,
  and a measurement floor) added to their variance. Without a loop time on both sides the
  median change of the CPU-bound cells stands in for the machine (it then absorbs a change
  of the code common to all of them: the header says so).
  Where both runs timed the loop next to each cell (cell.json `speed`), each CPU-bound
  configuration is corrected by the readings next to its own repeats instead, and CPU-bound
  cells that still move together are "inconclusive (machine?)" (analysis/compare/speed.py).
- Verdict: "faster"/"slower" only with at least MIN_REPEATS valid repeats a side, a 95 %
  interval that excludes no change, and a change of at least MIN_EFFECT. The cause is
  "code" when the corrected change is significant ("settings" when the server's threads or
  processes differ between the runs), "machine" when only the raw change is and the
  machine's expected effect covers at least half of it.

Checked on synthetic runs (tests/analysis/test_compare.py): same code twice, 200 cells,
10 % noise a repeat and 15 % machine drift: about 5 % of cells flagged; a 20 % drop with 3
repeats a side and 6 % noise: found in about 94 % of trials (at 10 % noise no test at 5 %
can pass 78 %: the noise, not the method, sets that limit).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.compare.speed import (
    INCONCLUSIVE,
    MACHINE_ASKED,
    NO_COMMON,
    SPEED_NOISE,
    Common,
    common_movement,
    config_speeds,
    inconclusive_cells,
    per_config_machine,
    waiting_with_machine,
)
from catalog import workloads

ALPHA = 0.05
MIN_REPEATS = 3  # fewer valid repeats a side cannot estimate their own spread: no verdict
MIN_EFFECT = 0.05  # smaller changes are below what these machines resolve: never a verdict
MIN_CELLS = 5  # cells needed to pool variances or to estimate the between-run noise
# Changes beyond 3 robust SDs are changes, not noise; the variance of a normal clipped there
# is 0.9733 of the whole (1 - 2·3·φ(3) / (2Φ(3) - 1)).
CLIP, CLIP_VAR = 3.0, 0.9733
# A run's loop readings may differ this much (max/min) and still describe a steady machine.
STEADY_SPEED = 1.15
MIN_DRIFT_CELLS = 3  # CPU-bound cells needed for the median drift to stand in for the loop
# A log value is never more exact than 0.1 %: keeps identical repeats from dividing by zero.
VAR_FLOOR = 0.001**2
NOT_ENOUGH = "not enough repeats to judge"
MACHINE_BUSY = "machine busy"  # a repeat on either side was contended
# metric column → (short name, +1 when a higher value is faster, -1 when it is slower)
METRICS: dict[str, tuple[str, int]] = {
    "rps": ("rps", 1),
    "p50_ms": ("p50", -1),
    "p99_ms": ("p99", -1),
}


def is_cpu_bound(scenario_name: str) -> bool:
    """Bound by the server's CPU (cpu, hello, json, mixed), so it moves with the machine."""
    return not workloads.is_wait(scenario_name)


def side_stats(summary: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per metric, one row per configuration: valid repeats n (of total), their mean value
    and the mean and variance of their logarithms (numpy by group: this runs in loops)."""
    config = [str(c) for c in summary["config_id"].tolist()]
    codes, names = pd.factorize(pd.Series(config, dtype=object))
    first = np.unique(codes, return_index=True)[1]
    valid = summary["valid"].to_numpy(bool)
    scenario = summary["scenario_name"].tolist()
    # An open-loop cell's req/s is the offered rate, not the machine's speed: never corrected.
    rate = summary["rate"].tolist() if "rate" in summary else [math.nan] * len(summary)
    settings = [f"{t}/{p}" for t, p in zip(summary["threads"], summary["processes"], strict=True)]
    base = {
        "total": np.bincount(codes, minlength=len(names)),
        "all_valid": np.bincount(codes, ~valid, minlength=len(names)) == 0,
        # A repeat the machine was busy around (analysis/validity.py): no verdict can blame
        # the code for it.
        "contended": np.bincount(codes, summary["contended"].to_numpy(bool), len(names)) > 0,
        "cpu_bound": [is_cpu_bound(str(scenario[i])) and pd.isna(rate[i]) for i in first],
        "settings": [settings[i] for i in first],
    }
    out = {}
    for metric in METRICS:
        values = pd.to_numeric(summary[metric], errors="coerce").to_numpy(float)
        with np.errstate(invalid="ignore"):
            usable = valid & np.isfinite(values) & (values > 0)
        logs = np.log(np.where(usable, values, 1.0))
        n = np.bincount(codes, usable, minlength=len(names))
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = np.bincount(codes, np.where(usable, values, 0.0), len(names)) / n
            mlog = np.bincount(codes, np.where(usable, logs, 0.0), len(names)) / n
            dev = np.where(usable, logs - mlog[codes], 0.0) ** 2
            vlog = np.where(n > 1, np.bincount(codes, dev, len(names)) / (n - 1), math.nan)
        frame = {"n": n.astype(int), "mean": mean, "mlog": mlog, "vlog": vlog}
        out[metric] = pd.DataFrame({**base, **frame}, index=pd.Index(names, name="config"))
    return out


def trigamma_inverse(y: float) -> float:
    """x with trigamma(x) = y (trigamma falls from +inf to 0 on x > 0)."""
    from scipy import optimize, special

    lo, hi = 1e-6, 1e7
    if y >= special.polygamma(1, lo):
        return lo
    if y <= special.polygamma(1, hi):
        return hi
    return float(optimize.brentq(lambda x: special.polygamma(1, x) - y, lo, hi))


def fit_prior(var: np.ndarray, df: np.ndarray) -> tuple[float, float]:
    """The variance the cells share, s0², and how many degrees of freedom it is worth, d0:
    the moment estimate of Smyth (2004), section 6.2. d0 = 0: too few cells to pool;
    d0 = inf: the cells' variances scatter no more than chance, so they share one."""
    from scipy import special

    ok = np.isfinite(var) & (df > 0)
    if ok.sum() < MIN_CELLS:
        return math.nan, 0.0
    d = df[ok]
    e = np.log(np.maximum(var[ok], VAR_FLOOR)) - special.digamma(d / 2) + np.log(d / 2)
    excess = float(e.var(ddof=1) - special.polygamma(1, d / 2).mean())
    if excess <= 0:
        return float(np.exp(e.mean())), math.inf
    d0 = 2 * trigamma_inverse(excess)
    return float(np.exp(e.mean() + special.digamma(d0 / 2) - np.log(d0 / 2))), d0


def moderate(var: np.ndarray, df: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's variance shrunk toward the side's prior, with its degrees of freedom."""
    s0, d0 = fit_prior(var, df)
    own = np.where(df > 0, np.maximum(np.nan_to_num(var, nan=0.0), VAR_FLOOR), math.nan)
    if d0 == 0:
        return own, df.astype(float)
    if math.isinf(d0):
        return np.full(len(var), s0), np.full(len(var), math.inf)
    mixed = (d0 * s0 + df * np.nan_to_num(own, nan=0.0)) / (d0 + df)
    return mixed, df + d0


def between_run_var(d: np.ndarray, w: np.ndarray, group: np.ndarray) -> tuple[float, float]:
    """τ²: the variance of cells' changes beyond what their repeats predict (w), and its
    degrees of freedom. Each group (CPU-bound, wait-bound) is centred on its own median, so
    a shift common to a group (the machine, or a change of the code they all share) is not
    noise. Cells further than CLIP robust SDs (MAD) are left out, as changes rather than
    noise; the rest give a mean square, nearly as efficient as a variance (a MAD alone
    would be too noisy: its errors turn into false alarms), scaled for the clipping."""
    ok = np.isfinite(d) & np.isfinite(w)
    if ok.sum() < MIN_CELLS:
        return 0.0, math.inf
    resid, groups, w = d[ok].copy(), group[ok], w[ok]
    for g in np.unique(groups):
        resid[groups == g] -= np.median(resid[groups == g])
    mad_sd = 1.4826 * float(np.median(np.abs(resid)))
    kept = np.abs(resid) <= CLIP * mad_sd if mad_sd > 0 else np.ones(len(resid), bool)
    k, centred = int(kept.sum()), len(np.unique(groups))
    if k - centred < 1:
        return 0.0, math.inf
    square = float(np.sum(resid[kept] ** 2)) / (k - centred) / CLIP_VAR
    return max(0.0, square - float(w[kept].mean())), float(k - centred)


@dataclass(frozen=True)
class Machine:
    """What the machine did between the runs, as a log ratio of loop time (> 0: the new
    run's machine was slower), with the variance of that estimate."""

    log_ratio: float
    var: float
    source: str  # "speed" (the loop), "drift" (median of CPU-bound cells) or "none"
    base_s: float = math.nan  # mean loop seconds of each run
    new_s: float = math.nan
    cells: int = 0  # CPU-bound cells in the drift estimate


NO_MACHINE = Machine(0.0, 0.0, "none")


def _loop_times(speed: Sequence[float]) -> np.ndarray:
    values = np.array([float(v) for v in speed], dtype=float)
    return values[np.isfinite(values) & (values > 0)]


def speed_machine(base_speed: Sequence[float], new_speed: Sequence[float]) -> Machine | None:
    """The machine's change from the loop timings, or None when a run has none. A cell ran
    somewhere between a run's first and last timing: the spread of a uniform over that
    range, plus each timing's own noise, is the correction's variance."""
    b, n = _loop_times(base_speed), _loop_times(new_speed)
    if not len(b) or not len(n):
        return None
    if any(times.max() / times.min() > STEADY_SPEED for times in (b, n)):
        # The machine changed speed during a run (its loop readings disagree): two readings
        # cannot tell its average over the run's cells, so the cells' common movement (drift)
        # is the better estimate. Seen here: 0.044 s at a run's start, 0.080 s at its end
        # under a passing load, which "corrected" unchanged cells by 30-40 %.
        return None
    var = 0.0
    for times in (b, n):
        spread = float(np.log(times.max() / times.min()))
        var += spread**2 / 12 + SPEED_NOISE**2 / len(times)
    ratio = float(np.log(n.mean() / b.mean()))
    return Machine(ratio, var, "speed", float(b.mean()), float(n.mean()))


def drift_machine(cpu_changes: np.ndarray) -> Machine:
    """Without loop timings: the median log change of CPU-bound cells' req/s, taken as the
    machine's (variance of a median: π/2 · σ² / k)."""
    d = cpu_changes[np.isfinite(cpu_changes)]
    if len(d) < MIN_DRIFT_CELLS:
        return NO_MACHINE
    sigma = 1.4826 * float(np.median(np.abs(d - np.median(d))))
    return Machine(-float(np.median(d)), math.pi / 2 * sigma**2 / len(d), "drift", cells=len(d))


def welch(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Standard error and Welch–Satterthwaite degrees of freedom of a sum of independent
    variance terms, each given with its own degrees of freedom (inf: known)."""
    var = sum(a for a, _ in parts)
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = sum(np.where(np.isinf(df) | (a == 0), 0.0, a**2 / df) for a, df in parts)
        dof = np.where(denom > 0, var**2 / denom, math.inf)
    return np.sqrt(var), dof


def significant(d: np.ndarray, se: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The interval excludes no change, and the change is large enough to matter."""
    with np.errstate(invalid="ignore"):
        return (np.abs(d) > t * se) & (np.abs(np.expm1(d)) >= MIN_EFFECT)


def directions(
    judged: np.ndarray,
    corrected: np.ndarray,
    machine: np.ndarray,
    d_raw: np.ndarray,
    d_corr: np.ndarray,
    sign: int,
) -> np.ndarray:
    """Per cell: "faster", "slower", "same", or "" when it cannot be judged. The corrected
    change decides; a raw change the machine explains keeps its own direction."""
    d = np.where(corrected, d_corr, d_raw)
    way = np.where(sign * d > 0, "faster", "slower")
    return np.where(~judged, "", np.where(corrected | machine, way, "same"))


def verdict_texts(way: np.ndarray, why: np.ndarray) -> list[str]:
    return [
        NOT_ENOUGH if not w else f"{w} ({c})" if c else w for w, c in zip(way, why, strict=True)
    ]


def machine_df(machine: Machine) -> float:
    """The loop is taken as known up to its stated variance; a drift estimate has k - 1."""
    return float(max(machine.cells - 1, 1)) if machine.source == "drift" else math.inf


def machine_explains(
    raw: np.ndarray, corrected: np.ndarray, d_raw: np.ndarray, effect: np.ndarray
) -> np.ndarray:
    """A significant raw change that is gone once the machine is removed, where the
    machine's own expected effect points the same way and covers at least half of it. (A
    change that a merely uncertain correction hides is not the machine's: it is "same".)"""
    covers = (np.sign(effect) == np.sign(d_raw)) & (np.abs(effect) >= np.abs(d_raw) / 2)
    return raw & ~corrected & covers


@dataclass(frozen=True)
class Shift:
    """The machine's change per matched configuration (log ratio of loop time, > 0: slower),
    its variance and degrees of freedom: from the cell's own readings where both runs have
    them (analysis/compare/speed.py), else the run's."""

    log_ratio: np.ndarray
    var: np.ndarray
    df: np.ndarray
    own: np.ndarray  # read next to the configuration's own cells in both runs


def compare_metric(
    sb: pd.DataFrame, sn: pd.DataFrame, metric: str, shift: Shift, cause: np.ndarray
) -> tuple[dict[str, object], tuple[float, int], Common]:
    """One metric of matched configurations (rows of sb and sn aligned): the change with its
    95 % interval, p value and verdict; the between-run noise (τ, cells) it used; and the
    CPU-bound cells' common movement left after the correction."""
    from scipy import special  # scipy.stats would add a second to every `compare`

    name, sign = METRICS[metric]
    nb, nn = sb["n"].to_numpy(float), sn["n"].to_numpy(float)
    vb, db = moderate(sb["vlog"].to_numpy(float), np.maximum(nb - 1, 0))
    vn, dn = moderate(sn["vlog"].to_numpy(float), np.maximum(nn - 1, 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        wb, wn = vb / nb, vn / nn
    cpu = sb["cpu_bound"].to_numpy(bool)
    d_raw = sn["mlog"].to_numpy(float) - sb["mlog"].to_numpy(float)
    # A machine slower by r moves req/s by 1/r and latency by r: the expected log change of
    # a CPU-bound cell is -sign·log r, which the corrected change removes.
    effect = np.where(cpu, -sign * shift.log_ratio, 0.0)
    d_corr = d_raw - effect
    tau2, tau_df = between_run_var(d_corr, wb + wn, cpu)
    common = [(wb, db), (wn, dn), (np.full(len(nb), tau2), np.full(len(nb), tau_df))]
    se_raw, df_raw = welch(common)
    machine_var = np.where(cpu, shift.var, 0.0)
    se, df = welch([*common, (machine_var, shift.df)])
    t, t_raw = special.stdtrit(df, 1 - ALPHA / 2), special.stdtrit(df_raw, 1 - ALPHA / 2)
    judged = (nb >= MIN_REPEATS) & (nn >= MIN_REPEATS) & np.isfinite(se) & np.isfinite(d_corr)
    raw = judged & significant(d_raw, se_raw, t_raw)
    corrected = judged & significant(d_corr, se, t)
    machine_only = machine_explains(raw, corrected, d_raw, effect)
    way = directions(judged, corrected, machine_only, d_raw, d_corr, sign)
    why = np.where(corrected, cause, np.where(machine_only, "machine", ""))
    t_one = float(np.median(t[cpu & judged])) if (cpu & judged).any() else math.nan
    moved = common_movement(d_corr, se, machine_var, cpu, judged, t_one, MIN_EFFECT)
    unsure = inconclusive_cells(moved, d_corr, se, t, cpu, corrected, MIN_EFFECT)
    unsure |= shift.own & waiting_with_machine(
        d_raw, shift.log_ratio, shift.var, cpu, corrected, sign, MIN_EFFECT
    )
    way = np.where(unsure, INCONCLUSIVE, way)
    why = np.where(unsure, MACHINE_ASKED, why)
    busy = sb["contended"].to_numpy(bool) | sn["contended"].to_numpy(bool)
    way = np.where(busy & judged, INCONCLUSIVE, way)
    why = np.where(busy & judged, MACHINE_BUSY, why)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * special.stdtr(df, -np.abs(d_corr / se))
    out = {
        f"base_{name}": sb["mean"].to_numpy(float),
        f"new_{name}": sn["mean"].to_numpy(float),
        f"{name}_change": np.expm1(d_corr),
        f"{name}_raw_change": np.expm1(d_raw),
        f"{name}_ci_lo": np.where(judged, np.expm1(d_corr - t * se), math.nan),
        f"{name}_ci_hi": np.where(judged, np.expm1(d_corr + t * se), math.nan),
        f"{name}_p": np.where(judged, p, math.nan),
        f"{name}_direction": way,
        f"{name}_cause": why,
        f"{name}_verdict": verdict_texts(way, why),
    }
    cells = int(np.isfinite(d_corr).sum()) if tau_df < math.inf else 0
    return out, (math.sqrt(tau2), cells), moved


@dataclass(frozen=True)
class Result:
    """Matched configurations, one row each, and what their intervals were built from."""

    rows: pd.DataFrame
    machine: Machine
    drift: float  # median log change of CPU-bound cells' req/s, before any correction
    drift_cells: int
    noise: dict[str, tuple[float, int]]  # metric short name → (τ as a log sd, cells)
    only_base: int
    only_new: int
    # Matched CPU-bound configurations corrected by the readings next to their own cells.
    cell_speed: int = 0
    # The CPU-bound cells' req/s movement left after the correction (analysis/compare/speed.py).
    common: Common = NO_COMMON


def _configs(summary: pd.DataFrame) -> dict[str, str]:
    return dict(zip(summary["cell_id"].astype(str), summary["config_id"].astype(str), strict=True))


def compare_tables(
    base: pd.DataFrame,
    new: pd.DataFrame,
    base_speed: Sequence[float],
    new_speed: Sequence[float],
    base_cells: Mapping[str, Sequence[float]] | None = None,
    new_cells: Mapping[str, Sequence[float]] | None = None,
    cause: str = "code",
) -> Result:
    """Compare two summaries (aggregate.build_summary frames; only cell_id, config_id,
    scenario_name, valid, threads, processes and the METRICS columns are read) configuration
    by configuration, given each run's loop timings (RunRecord.speed.readings) and, where the
    runs have them, the readings next to each cell (cell id → CellRecord.speed.readings).
    `cause`: what a significant change is put down to ("code"; "versions" when what the
    servers ran differs; "settings" anyway where a configuration's threads or processes do)."""
    if base.empty or new.empty:  # a run without cells has nothing to compare
        empty = pd.DataFrame({"config": pd.Series(dtype=str)})
        return Result(empty, NO_MACHINE, math.nan, 0, {}, len(base), len(new))
    stats_b, stats_n = side_stats(base), side_stats(new)
    sides = {m: (stats_b[m], stats_n[m]) for m in METRICS}
    sb, sn = sides["rps"]
    common = [c for c in sn.index if c in sb.index]
    at_b, at_n = sb.index.get_indexer(common), sn.index.get_indexer(common)
    rb, rn = sb.iloc[at_b], sn.iloc[at_n]
    cpu = rb["cpu_bound"].to_numpy(bool)
    d_cpu = (rn["mlog"] - rb["mlog"]).to_numpy(float)[cpu]
    d_cpu = d_cpu[np.isfinite(d_cpu)]
    machine = speed_machine(base_speed, new_speed) or drift_machine(d_cpu)
    ratio, var, df, own = per_config_machine(
        common,
        config_speeds(base_cells or {}, _configs(base)),
        config_speeds(new_cells or {}, _configs(new)),
        machine.log_ratio,
        machine.var,
        machine_df(machine),
    )
    shift = Shift(ratio, var, df, own)
    settings_b, settings_n = rb["settings"].to_numpy(str), rn["settings"].to_numpy(str)
    why = np.where(settings_b != settings_n, "settings", cause)
    columns: dict[str, object] = {
        "config": common,
        "cpu_bound": cpu,
        "base_settings": settings_b,
        "new_settings": settings_n,
        "base_n": rb["n"].to_numpy(int),
        "new_n": rn["n"].to_numpy(int),
        "base_total": rb["total"].to_numpy(int),
        "new_total": rn["total"].to_numpy(int),
        "valid": rb["all_valid"].to_numpy(bool) & rn["all_valid"].to_numpy(bool),
    }
    noise, moved = {}, {}
    for metric, (b, n) in sides.items():
        part, noise[METRICS[metric][0]], moved[metric] = compare_metric(
            b.iloc[at_b], n.iloc[at_n], metric, shift, why
        )
        columns.update(part)
    rows = pd.DataFrame(columns)
    drift = float(np.median(d_cpu)) if len(d_cpu) else math.nan
    only_base, only_new = len(sb) - len(common), len(sn) - len(common)
    return Result(
        rows,
        machine,
        drift,
        len(d_cpu),
        noise,
        only_base,
        only_new,
        cell_speed=int((own & cpu).sum()),
        common=moved["rps"],
    )
