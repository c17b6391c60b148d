"""Run against run, configuration by configuration, like pyperf's compare_to.

A configuration is a cell id without its `-r<N>`; its valid repeats are the samples, never
its seconds or requests. The statistics (Welch intervals on log values with variances
pooled across cells, the between-run noise, the machine's speed change) are in
analysis/compare/stats.py, which explains why. This module reads the two runs, refuses runs
from different machines or package versions unless forced, and formats the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis import aggregate
from analysis.compare.frames import frame_lines
from analysis.compare.speed import NO_COMMON, Common
from analysis.compare.stats import (
    ALPHA,
    MIN_EFFECT,
    MIN_REPEATS,
    NO_MACHINE,
    NOT_ENOUGH,
    STEADY_SPEED,
    Machine,
    compare_tables,
)
from analysis.load import load_run
from record.errors import UserError
from record.records import RunRecord


def _differences(a: dict[str, str], b: dict[str, str], joint: str) -> list[str]:
    return [
        f"{k} {a.get(k, '-')}{joint}{b.get(k, '-')}"
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]


def check_comparable(base: RunRecord, new: RunRecord) -> None:
    """Runs from different hardware are refused (their figures say nothing of each other);
    runs of other versions on the same hardware are compared, and say so (changed_versions)."""
    a, b = base.environment.hardware_key(), new.environment.hardware_key()
    diffs = _differences(a, b, " vs ")
    if diffs:
        raise UserError(
            "runs come from different machines ("
            + "; ".join(diffs[:3])
            + "); use --force to compare anyway"
        )


def changed_versions(base: RunRecord, new: RunRecord) -> list[str]:
    """What the servers ran that differs between the runs: the harness's Python and packages,
    and each [[environments]] entry both runs have by name ("tornado 6.5.2 → 6.6.1")."""
    out = _differences(base.environment.versions(), new.environment.versions(), " → ")
    for mine in base.environments:
        theirs = new.suite_environment(mine.name)
        if theirs is None:
            continue
        a = {"python": mine.python_version, **mine.packages}
        b = {"python": theirs.python_version, **theirs.packages}
        out += [f"{mine.name}: {d}" for d in _differences(a, b, " → ")]
    return out


@dataclass(frozen=True)
class Comparison:
    """One row per configuration found in both runs (columns: stats.compare_tables)
    and what the comparison saw of the machine and of the noise."""

    base: str
    new: str
    rows: pd.DataFrame
    machine: Machine = NO_MACHINE
    drift: float = math.nan  # median log change of CPU-bound cells' req/s, uncorrected
    drift_cells: int = 0
    noise: dict[str, tuple[float, int]] = field(default_factory=dict)
    only_base: int = 0
    only_new: int = 0
    speed_missing: tuple[str, ...] = ()  # "base", "new": runs without loop timings
    cell_speed: int = 0  # CPU-bound configurations corrected by readings next to their cells
    common: Common = NO_COMMON  # CPU-bound cells' req/s movement the correction left
    versions: tuple[str, ...] = ()  # what the servers ran that changed (changed_versions)
    frames: tuple[str, ...] = ()  # the frames that moved in changed configurations (frames.py)

    def regressions(self, pct: float) -> list[str]:
        """Configurations whose req/s dropped significantly, by more than pct %, for a reason
        other than the machine (only configurations with enough valid repeats are judged)."""
        r = self.rows
        worse = r[
            (r["rps_direction"] == "slower")
            & r["rps_cause"].isin(["code", "settings", "versions"])
            & (r["rps_change"] < -pct / 100)
        ]
        return list(worse["config"])


def compare_runs(base_dir: str | Path, new_dir: str | Path, *, force: bool = False) -> Comparison:
    base, new = load_run(base_dir), load_run(new_dir)
    if not force:
        check_comparable(base.run, new.run)
    versions = changed_versions(base.run, new.run)
    result = compare_tables(
        aggregate.build_summary(base.cells, base.cell_requests, base.run_id),
        aggregate.build_summary(new.cells, new.cell_requests, new.run_id),
        base.run.speed.readings,
        new.run.speed.readings,
        {cid: r.speed.readings for cid, r in base.records.items() if r.speed.readings},
        {cid: r.speed.readings for cid, r in new.records.items() if r.speed.readings},
        # What the servers ran changed: a significant change is the versions', never the code's.
        cause="versions" if versions else "code",
    )
    if result.rows.empty:
        raise UserError(f"{base_dir} and {new_dir} have no cell in common")
    missing = tuple(
        side for side, run in (("base", base), ("new", new)) if not run.run.speed.readings
    )
    return Comparison(
        base.run_id,
        new.run_id,
        result.rows,
        machine=result.machine,
        drift=result.drift,
        drift_cells=result.drift_cells,
        noise=result.noise,
        only_base=result.only_base,
        only_new=result.only_new,
        speed_missing=missing,
        cell_speed=result.cell_speed,
        common=result.common,
        versions=tuple(versions),
        frames=tuple(frame_lines(base, new, result.rows)),
    )


def _pct(v: float) -> str:
    return f"{v:+.1%}" if math.isfinite(v) else "–"


def machine_line(c: Comparison) -> str:
    """What the machine did, in the words the header uses."""
    m, cpu = c.machine, bool(c.rows["cpu_bound"].any())
    if m.source == "speed":
        r = m.new_s / m.base_s
        way = "slower than" if r > 1 else "faster than"
        how = "as fast as" if abs(r - 1) < 0.005 else f"{abs(r - 1):.0%} {way}"
        what = "CPU-bound cells corrected for it" if cpu else "no CPU-bound cell to correct"
        return (
            f"machine speed: new run {how} base (loop {m.new_s:.3f} s vs {m.base_s:.3f} s, "
            f"±{1.96 * math.sqrt(m.var):.0%}); {what}"
        )
    missing = c.speed_missing
    if missing:
        where = "either run" if len(missing) == 2 else f"the {missing[0]} run"
        head = f"machine speed: not measured in {where}"
    else:
        head = (
            "machine speed: it changed during a run (its loop readings differ by more than "
            f"{STEADY_SPEED - 1:.0%}), so two readings cannot say by how much"
        )
    if m.source == "drift":
        return (
            f"{head}; CPU-bound cells' req/s moved {math.expm1(c.drift):+.0%} together (median "
            f"of {m.cells}), taken as the machine's change: a change of the code common to "
            "all of them would look like the machine"
        )
    if cpu:
        return f"{head}, too few CPU-bound cells to estimate it: they are not corrected"
    return f"{head}; no CPU-bound cell, so nothing to correct"


def common_lines(c: Comparison) -> list[str]:
    """Where the readings next to the cells were used, and a common movement they left."""
    lines = []
    if c.cell_speed:
        lines.append(
            f"  {c.cell_speed} CPU-bound cell(s) corrected by the speed read next to their own "
            "repeats (before and after each cell, on the server's cores)"
        )
    if c.common.found:
        lines.append(
            f"  CPU-bound cells' req/s moved {math.expm1(c.common.log_change):+.0%} together "
            f"(median of {c.common.cells}) beyond what the speed readings explain: the machine "
            "or a change common to all of them; those not standing out from it say "
            "inconclusive (machine?) and never fail --fail-on-regression"
        )
    return lines


def header_lines(c: Comparison) -> list[str]:
    lines = [f"base: {c.base}", f"new:  {c.new}", machine_line(c), *common_lines(c)]
    if c.versions:
        lines.append(
            "versions changed (a change is theirs, not the code's): " + "; ".join(c.versions)
        )
    if c.machine.source == "speed" and c.drift_cells:
        lines.append(
            f"  cross-check: CPU-bound cells' req/s moved {math.expm1(c.drift):+.0%} together "
            f"(median of {c.drift_cells}); the machine's speed accounts for "
            f"{math.expm1(-c.machine.log_ratio):+.0%}"
        )
    tau = [(k, t, n) for k, (t, n) in c.noise.items() if k in ("rps", "p99") and n]
    if tau:
        lines.append(
            "between-run noise beyond the repeats: "
            + ", ".join(f"{'req/s' if k == 'rps' else k} ±{math.expm1(t):.1%}" for k, t, _ in tau)
            + f" (SD, from {tau[0][2]} cells; in every interval)"
        )
    else:
        lines.append("between-run noise beyond the repeats: too few cells to estimate it")
    differ = c.rows["base_settings"] != c.rows["new_settings"]
    if differ.any():
        first = c.rows[differ].iloc[0]
        lines.append(
            f"server threads/processes differ in {int(differ.sum())} cell(s) "
            f"({first['base_settings']} vs {first['new_settings']}): their changes say (settings)"
        )
    lines += [
        "unit: one repeat; Welch 95% CI on log values of valid repeats, variances pooled "
        f"across cells; faster/slower need >= {MIN_REPEATS} valid repeats a side, a CI "
        f"excluding no change (alpha {ALPHA:g}) and a change of at least {MIN_EFFECT:.0%}",
        "(code): remains after removing the machine's change; (machine): the machine's speed "
        "change explains it; inconclusive (machine?): moved with every CPU-bound cell, or a waiting cell moved the way "
        "the speed read next to it did",
        "",
    ]
    return lines


def _change(change: pd.Series, lo: pd.Series, hi: pd.Series) -> list[str]:
    return [
        _pct(v) + (f" [{_pct(a)}, {_pct(b)}]" if math.isfinite(a) else "")
        for v, a, b in zip(change, lo, hi, strict=True)
    ]


def _mean(values: pd.Series, counts: pd.Series) -> list[str]:
    return [
        (f"{v:,.1f}" if math.isfinite(v) else "–") + f" n={k}"
        for v, k in zip(values, counts, strict=True)
    ]


def table_columns(rows: pd.DataFrame) -> dict[str, list[str]]:
    """The printed table: the measured change, then the code's with its 95 % interval (the
    two differ on CPU-bound cells by the machine's change), then the verdict."""
    valid = [
        "yes" if ok else f"{bn}/{bt} | {nn}/{nt}"
        for ok, bn, bt, nn, nt in zip(
            rows["valid"],
            rows["base_n"],
            rows["base_total"],
            rows["new_n"],
            rows["new_total"],
            strict=True,
        )
    ]
    return {
        "cell": list(rows["config"]),
        "base req/s": _mean(rows["base_rps"], rows["base_n"]),
        "new req/s": _mean(rows["new_rps"], rows["new_n"]),
        "measured": [_pct(v) for v in rows["rps_raw_change"]],
        "code [95% CI]": _change(rows["rps_change"], rows["rps_ci_lo"], rows["rps_ci_hi"]),
        "req/s verdict": list(rows["rps_verdict"]),
        "p99 measured": [_pct(v) for v in rows["p99_raw_change"]],
        "p99 code [95% CI]": _change(rows["p99_change"], rows["p99_ci_lo"], rows["p99_ci_hi"]),
        "p99 verdict": list(rows["p99_verdict"]),
        "valid": valid,
    }


LEFT = ("cell", "req/s verdict", "p99 verdict", "valid")  # words read left to right


def fixed_width(columns: dict[str, list[str]]) -> str:
    widths = {k: max([len(k), *map(len, v)]) for k, v in columns.items()}

    def line(cells: dict[str, str]) -> str:
        return "  ".join(
            v.ljust(widths[k]) if k in LEFT else v.rjust(widths[k]) for k, v in cells.items()
        ).rstrip()

    count = len(next(iter(columns.values())))
    body = [line({k: v[i] for k, v in columns.items()}) for i in range(count)]
    return "\n".join([line({k: k for k in columns}), *body])


def count_line(verdicts: pd.Series) -> str:
    counts = verdicts.value_counts()
    order = sorted(k for k in counts.index if k not in ("same", NOT_ENOUGH))
    parts = [f"{counts[k]} {k}" for k in order]
    parts.append(f"{counts.get('same', 0)} same (within the noise, or under {MIN_EFFECT:.0%})")
    if counts.get(NOT_ENOUGH, 0):
        parts.append(f"{counts[NOT_ENOUGH]} {NOT_ENOUGH}")
    return ", ".join(parts)


def format_comparison(c: Comparison) -> str:
    lines = header_lines(c)
    lines.append(fixed_width(table_columns(c.rows)))
    lines.append("")
    lines.append(f"req/s: {count_line(c.rows['rps_verdict'])}")
    lines.append(f"p99:   {count_line(c.rows['p99_verdict'])}")
    if c.only_base or c.only_new:
        lines.append(f"not compared: {c.only_base} cell(s) only in base, {c.only_new} only in new")
    lines += c.frames
    return "\n".join(lines)
