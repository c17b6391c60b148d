"""A run's cells judged against the suite's `[[thresholds]]` (record/thresholds.py), as k6 judges
its thresholds: a breach makes `run` (and `report`) exit with a code of its own.

Each threshold is judged per configuration (a cell id without its `-r<N>`), on its valid
repeats pooled: their mean and its 95 % interval (Student t across repeats; with one repeat,
req/s keeps the cell's own block-bootstrap interval and other columns are a point). A breach
only when the whole interval is past the limit; "inconclusive" when the interval straddles it,
so that noise alone never turns a build red. A configuration without a valid cell is "not
judged" (an invalid cell is no evidence, and never a pass)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.precision import t_interval
from record.thresholds import Threshold

PASS, FAIL, INCONCLUSIVE, NOT_JUDGED = "pass", "fail", "inconclusive", "not judged"
NOTE = (
    "Each threshold is judged per configuration on its valid repeats pooled (mean and 95 % "
    "interval). fail: the whole interval is past the limit; inconclusive: the interval "
    "straddles it, or other processes kept the machine busy (a contended repeat); not judged: "
    "no valid cell."
)


@dataclass(frozen=True)
class ThresholdVerdict:
    threshold: Threshold
    config: str  # the cell id without its repeat
    verdict: str  # PASS, FAIL, INCONCLUSIVE or NOT_JUDGED
    value: float  # the pooled value (NaN when not judged)
    low: float
    high: float
    repeats: int  # valid repeats judged
    reason: str  # one line: why this verdict

    @property
    def line(self) -> str:
        return f"{self.verdict:12} {self.threshold.name:40} {self.config}: {self.reason}"


def selects(t: Threshold, row: pd.Series) -> bool:
    """Whether a summary row (aggregate.build_summary) is one of the threshold's cells."""
    # A variant named alone selects it with any options ("multiprocess" selects
    # "multiprocess+reuseport"); named with its options, only those.
    if t.variants and not {row["variant"], row["strategy"]} & set(t.variants):
        return False
    if t.scenario is not None and t.scenario not in (row["scenario"], row["scenario_name"]):
        return False
    open_loop = bool(row["open_loop"])
    if t.users and (open_loop or int(row["users"]) not in t.users):
        return False
    return not (t.rates and (not open_loop or float(row["rate"]) not in t.rates))


def pooled(t: Threshold, group: pd.DataFrame) -> tuple[float, float, float, int]:
    """The configuration's value, the low and high ends of its interval, and its repeats."""
    values = pd.to_numeric(group[t.metric], errors="coerce").to_numpy(float)
    values = values[np.isfinite(values)]
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(values.mean())
    if n >= 2:
        lo, hi = t_interval(values)
        return mean, lo, hi, n
    if t.metric == "rps":
        lo, hi = (float(group[c].iloc[0]) for c in ("rps_ci_low", "rps_ci_high"))
        if math.isfinite(lo) and math.isfinite(hi):
            return mean, lo, hi, 1
    return mean, mean, mean, 1


def verdict_of(t: Threshold, value: float, lo: float, hi: float) -> tuple[str, str]:
    sign = "<=" if t.upper else ">="
    shown = f"{value:.4g}" if lo == hi else f"{value:.4g} [{lo:.4g}, {hi:.4g}]"
    inside = hi <= t.limit if t.upper else lo >= t.limit
    past = lo > t.limit if t.upper else hi < t.limit
    if inside:
        return PASS, f"{shown} {sign} {t.limit:g}"
    if past:
        return FAIL, f"{shown} breaches {sign} {t.limit:g}"
    return INCONCLUSIVE, f"{shown}: the interval straddles {t.limit:g}; more repeats would tell"


def judge(summary: pd.DataFrame, thresholds: tuple[Threshold, ...]) -> list[ThresholdVerdict]:
    """Every threshold on every configuration it selects, in the summary's order."""
    out: list[ThresholdVerdict] = []
    if summary.empty:
        return out
    configs = summary["config_id"]
    for t in thresholds:
        chosen = summary[summary.apply(lambda row, t=t: selects(t, row), axis=1)]
        for config in dict.fromkeys(configs[chosen.index]):
            group = chosen[configs[chosen.index] == config]
            valid = group[group["valid"].astype(bool)]
            value, lo, hi, n = pooled(t, valid)
            if n == 0:
                why = _not_judged(group)
                out.append(ThresholdVerdict(t, config, NOT_JUDGED, value, lo, hi, 0, why))
                continue
            verdict, why = verdict_of(t, value, lo, hi)
            busy = int(valid["contended"].astype(bool).sum())
            if busy:  # the machine may have set the figure: neither a pass nor a fail
                verdict = INCONCLUSIVE
                why = f"{why}; machine busy: {busy} of {n} repeats contended"
            if n > 1:
                why += f" ({n} repeats)"
            out.append(ThresholdVerdict(t, config, verdict, value, lo, hi, n, why))
    return out


def _not_judged(group: pd.DataFrame) -> str:
    row = group.iloc[-1]
    notes = str(row.get("notes", "") or row.get("reason", "") or "")
    if notes and notes != "nan":
        return f"no valid cell: {notes}"
    return f"no valid cell (status {row['status']})"


def failed(verdicts: list[ThresholdVerdict]) -> list[ThresholdVerdict]:
    return [v for v in verdicts if v.verdict == FAIL]


def format_verdicts(verdicts: list[ThresholdVerdict]) -> str:
    """The terminal's block: one line per threshold and configuration, then a count."""
    if not verdicts:
        return ""
    counts = {k: sum(v.verdict == k for v in verdicts) for k in (PASS, FAIL, INCONCLUSIVE)}
    counts[NOT_JUDGED] = sum(v.verdict == NOT_JUDGED for v in verdicts)
    head = "thresholds: " + ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    return "\n".join([head, *(f"  {v.line}" for v in verdicts)])


def first_breach(summary: pd.DataFrame, thresholds: tuple[Threshold, ...]) -> str | None:
    """For abort_on_fail: the first breach of such a threshold on the cells so far, or None."""
    stoppers = tuple(t for t in thresholds if t.abort_on_fail)
    if not stoppers:
        return None
    for v in failed(judge(summary, stoppers)):
        return f"{v.threshold.name} failed on {v.config}: {v.reason}"
    return None
