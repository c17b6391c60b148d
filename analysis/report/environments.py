"""The report's section on a suite run across [[environments]]: each configuration in each
environment, and one sentence per environment after the first on what moved against it
(analysis/compare/environments.py)."""

from __future__ import annotations

import math

import pandas as pd

from analysis.compare.environments import changes, per_environment
from analysis.readings.words import fmt, format_ms
from record.run_meta import EnvironmentInfo

NOTE = (
    "Each configuration in each of the suite's environments (its interpreter and packages ran "
    "the servers; Locust and the analysis ran in the harness's own): valid repeats' mean req/s "
    "with its 95% interval, and their mean p99. Against the first environment, a change is "
    "said where its 95% interval excludes none (3 valid repeats a side at least); the "
    "environments ran interleaved on the same machine, so it is the environment's."
)


def _pct(value: float) -> str:
    return f"{value:+.0%}" if math.isfinite(value) else "?"


def readings(summary: pd.DataFrame, infos: tuple[EnvironmentInfo, ...]) -> list[str]:
    """One sentence per environment after the first: what moved against the first, with
    intervals ("py312 (Python 3.12.1, tornado 6.6.1) against tornado65 (...): req/s +8 %
    [+3 %, +13 %] on coroutine-asyncio-hello-u10; same elsewhere (5 configurations)")."""
    if len(infos) < 2:
        return []
    base = infos[0]
    out = []
    for other in infos[1:]:
        found, matched, judged = changes(summary, base.name, other.name)
        head = f"{other.name} ({other.describe()}) against {base.name} ({base.describe()})"
        if not matched:
            out.append(f"{head}: no configuration with valid cells in both")
            continue
        if not judged:
            out.append(
                f"{head}: not judged, no configuration has 3 valid repeats in both (repeats = 3)"
            )
            continue
        moved = [
            f"{c.metric} {_pct(c.change)} [{_pct(c.low)}, {_pct(c.high)}] on {c.configuration}"
            for c in found
        ]
        rest = judged - len({c.configuration for c in found})
        tail = f"same elsewhere ({rest} configuration{'s' if rest != 1 else ''})" if rest else ""
        said = "; ".join([*moved, tail] if tail else moved)
        unjudged = matched - judged
        more = f"; {unjudged} not judged (fewer than 3 valid repeats)" if unjudged else ""
        out.append(f"{head}: {said or 'no significant change'}{more}")
    return out


def table_rows(summary: pd.DataFrame) -> list[tuple[str, str, str, str, str]]:
    """(configuration, environment, req/s with its interval, p99, repeats) for the report."""
    frame = per_environment(summary)
    rows = []
    for r in frame.itertuples(index=False):
        interval = (
            f" [{fmt(r.rps_ci_low, 0)}, {fmt(r.rps_ci_high, 0)}]"
            if math.isfinite(r.rps_ci_low)
            else ""
        )
        rows.append(
            (
                str(r.configuration),
                str(r.environment),
                f"{fmt(r.rps, 1)}{interval}",
                f"{format_ms(r.p99_ms)} ms",
                str(r.repeats),
            )
        )
    return rows
