"""Run against run, cell by cell, like pyperf's compare_to.

Throughput: Mann-Whitney U (two-sided) on the per-second completion counts of the two
windows. Latency: a bootstrap 95 % confidence interval of the change in p50 and p99.
A change is "faster"/"slower" only when it is significant at 5 %; otherwise "same".
Runs from different machines or package versions are refused unless forced.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import aggregate
from analysis.load import RunData, load_run
from record.errors import UserError

ALPHA = 0.05
BOOTSTRAP_ROUNDS = 400
BOOTSTRAP_MAX_SAMPLE = 20_000  # resampling a larger window adds time, not information
SEED = 12345  # the same inputs always give the same verdicts


def machine_key(meta: dict) -> dict[str, str]:
    env = meta.get("environment", {})
    cpu = env.get("cpu", {})
    key = {
        "cpu model": str(cpu.get("model")),
        "cores": str(cpu.get("cores")),
        "python": str(env.get("python", {}).get("version")),
    }
    for name, version in sorted(env.get("packages", {}).items()):
        key[name] = str(version)
    return key


def check_comparable(base: dict, new: dict) -> None:
    a, b = machine_key(base), machine_key(new)
    diffs = [
        f"{k} {a.get(k)} vs {b.get(k)}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)
    ]
    if diffs:
        raise UserError(
            "runs come from different machines or versions ("
            + "; ".join(diffs[:3])
            + "); use --force to compare anyway"
        )


def mann_whitney_p(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import stats

    if len(a) < 2 or len(b) < 2:
        return math.nan
    if np.all(a == a[0]) and np.all(b == a[0]):
        return 1.0
    return float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)


def bootstrap_change_ci(
    base: np.ndarray, new: np.ndarray, pct: float, rng: np.random.Generator
) -> tuple[float, float, float]:
    """Relative change of the pct-th percentile (new/base − 1) and its 95 % bootstrap CI."""
    if len(base) < 2 or len(new) < 2:
        return math.nan, math.nan, math.nan
    if len(base) > BOOTSTRAP_MAX_SAMPLE:
        base = rng.choice(base, BOOTSTRAP_MAX_SAMPLE, replace=False)
    if len(new) > BOOTSTRAP_MAX_SAMPLE:
        new = rng.choice(new, BOOTSTRAP_MAX_SAMPLE, replace=False)
    point = np.percentile(new, pct) / np.percentile(base, pct) - 1
    qb = np.percentile(rng.choice(base, (BOOTSTRAP_ROUNDS, len(base))), pct, axis=1)
    qn = np.percentile(rng.choice(new, (BOOTSTRAP_ROUNDS, len(new))), pct, axis=1)
    changes = qn / qb - 1
    lo, hi = np.percentile(changes, [2.5, 97.5])
    return float(point), float(lo), float(hi)


def rps_verdict(change: float, p: float) -> str:
    if not math.isfinite(p) or p >= ALPHA or not math.isfinite(change):
        return "same"
    return "faster" if change > 0 else "slower"


def latency_verdict(lo: float, hi: float) -> str:
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0 <= hi:
        return "same"
    return "slower" if lo > 0 else "faster"


@dataclass(frozen=True)
class Comparison:
    base: str
    new: str
    rows: pd.DataFrame

    def regressions(self, pct: float) -> list[str]:
        """Cells valid in both runs whose req/s dropped significantly by more than pct %."""
        r = self.rows
        worse = r[r["valid"] & (r["rps_verdict"] == "slower") & (r["rps_change"] < -pct / 100)]
        return list(worse["cell_id"])


def compare_frames(base: RunData, new: RunData) -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    sb = aggregate.build_summary(base.cells, base.requests, base.run_id).set_index("cell_id")
    sn = aggregate.build_summary(new.cells, new.requests, new.run_id).set_index("cell_id")
    common = [c for c in sn.index if c in sb.index]
    rb = base.requests.groupby("cell_id", observed=True)
    rn = new.requests.groupby("cell_id", observed=True)
    rows = []
    for cell_id in common:
        b, n = sb.loc[cell_id], sn.loc[cell_id]
        measured = b["requests"] > 0 and n["requests"] > 0
        row = {
            "cell_id": cell_id,
            "valid": bool(b["valid"] and n["valid"]),
            "base_rps": b["rps"],
            "new_rps": n["rps"],
            "rps_change": n["rps"] / b["rps"] - 1 if measured and b["rps"] else math.nan,
            "rps_p": math.nan,
            "p50_change": math.nan,
            "p99_change": math.nan,
            "p99_ci_lo": math.nan,
            "p99_ci_hi": math.nan,
            "p50_verdict": "same",
            "p99_verdict": "same",
        }
        if measured and cell_id in rb.groups and cell_id in rn.groups:
            qb, qn = rb.get_group(cell_id), rn.get_group(cell_id)
            row["rps_p"] = mann_whitney_p(
                aggregate.window_series(qb, b["window_start"], b["window_end"])["rps"].to_numpy(),
                aggregate.window_series(qn, n["window_start"], n["window_end"])["rps"].to_numpy(),
            )
            lb = qb.loc[qb["ok"], "latency_ms"].to_numpy()
            ln = qn.loc[qn["ok"], "latency_ms"].to_numpy()
            p50, lo50, hi50 = bootstrap_change_ci(lb, ln, 50, rng)
            p99, lo99, hi99 = bootstrap_change_ci(lb, ln, 99, rng)
            row.update(
                p50_change=p50,
                p99_change=p99,
                p99_ci_lo=lo99,
                p99_ci_hi=hi99,
                p50_verdict=latency_verdict(lo50, hi50),
                p99_verdict=latency_verdict(lo99, hi99),
            )
        row["rps_verdict"] = rps_verdict(row["rps_change"], row["rps_p"])
        rows.append(row)
    return pd.DataFrame(rows)


def compare_runs(base_dir: str | Path, new_dir: str | Path, *, force: bool = False) -> Comparison:
    base, new = load_run(base_dir), load_run(new_dir)
    if not force:
        check_comparable(base.run.to_dict(), new.run.to_dict())
    rows = compare_frames(base, new)
    if rows.empty:
        raise UserError(f"{base_dir} and {new_dir} have no cell in common")
    return Comparison(base.run_id, new.run_id, rows)


def _pct(v: float) -> str:
    return f"{v:+.1%}" if math.isfinite(v) else "–"


def format_comparison(c: Comparison) -> str:
    lines = [
        f"base: {c.base}",
        f"new:  {c.new}",
        "req/s: Mann-Whitney U on per-second throughput; p50/p99: bootstrap 95% CI; "
        f"significant at {ALPHA:.0%}",
        "",
    ]
    frame = pd.DataFrame(
        {
            "cell": c.rows["cell_id"],
            "base req/s": c.rows["base_rps"].map(lambda v: f"{v:,.1f}"),
            "new req/s": c.rows["new_rps"].map(lambda v: f"{v:,.1f}"),
            "change": c.rows["rps_change"].map(_pct),
            "p": c.rows["rps_p"].map(lambda v: f"{v:.3f}" if math.isfinite(v) else "–"),
            "req/s verdict": c.rows["rps_verdict"],
            "p50": c.rows["p50_change"].map(_pct) + " " + c.rows["p50_verdict"],
            "p99": c.rows["p99_change"].map(_pct) + " " + c.rows["p99_verdict"],
            "valid": c.rows["valid"].map(lambda v: "" if v else "not trusted"),
        }
    )
    lines.append(frame.to_string(index=False))
    counts = c.rows["rps_verdict"].value_counts()
    lines.append("")
    lines.append(
        f"{counts.get('faster', 0)} faster, {counts.get('slower', 0)} slower, "
        f"{counts.get('same', 0)} not significantly different"
    )
    return "\n".join(lines)
