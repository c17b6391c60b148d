"""What `run`, `report` and `compare` give a CI job besides the report: the thresholds'
verdicts (analysis/thresholds.py), JUnit XML (analysis/ci/junit.py) and a Markdown job summary
(analysis/ci/job_summary.py). commands/ calls these with the paths its options name
(commands/outputs.py)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import thresholds
from analysis.ci import job_summary, junit
from analysis.ci.stopped import stopped
from analysis.compare.runs import Comparison
from analysis.compare.stats import NOT_ENOUGH
from record.records import RunRecord
from record.thresholds import Threshold


def abort_check(summary: Callable[[], pd.DataFrame], objectives: tuple[Threshold, ...]) -> Any:
    """For run_suite's `stop`: the first breach of a threshold with abort_on_fail among the
    cells judged so far (`summary` gives them), or None. None when no threshold aborts."""
    if not any(t.abort_on_fail for t in objectives):
        return None

    def stop() -> str | None:
        frame = summary()
        return thresholds.first_breach(frame, objectives) if len(frame) else None

    return stop


def write_run_outputs(
    run: RunRecord,
    summary: pd.DataFrame,
    ranking: pd.DataFrame,
    verdicts: list[thresholds.ThresholdVerdict],
    junit_path: Path | None,
    summary_md: Path | None,
) -> None:
    """JUnit and the job summary of a run, where the options (and the environment) ask."""
    stop = stopped(run, summary)
    if junit_path is not None:
        cases = junit.validity_cases(summary) + junit.unrun_cases(stop)
        cases += junit.threshold_cases(verdicts)
        props = (("suite", run.settings.name), ("status", run.status))
        junit.write(junit_path, [junit.Suite(run.run_id, tuple(cases), run.started, props)])
    text = job_summary.run_summary(run.run_id, summary, ranking, verdicts, stop)
    job_summary.write(summary_md, text)


def compare_cases(rows: pd.DataFrame, regressions: list[str], pct: float) -> list[junit.Case]:
    """One testcase per configuration: a significant req/s regression beyond pct % fails; a
    configuration without enough repeats to judge is skipped with that reason."""
    worse = set(regressions)
    out = []
    for r in rows.itertuples(index=False):
        change = r.rps_change
        shown = f"req/s {change:+.1%}" if math.isfinite(change) else "req/s –"
        text = f"{shown}: {r.rps_verdict}; p99: {r.p99_verdict}"
        if r.config in worse:
            text = f"regression beyond {pct:g}%: {text}"
            out.append(junit.Case("compare", r.config, junit.FAILURE, text, "regression"))
        elif r.rps_verdict == NOT_ENOUGH:
            out.append(junit.Case("compare", r.config, junit.SKIPPED, text))
        else:
            out.append(junit.Case("compare", r.config, junit.PASSED, text))
    return out


def write_compare_outputs(
    comparison: Comparison,
    machine: str,
    fail_on_regression: float | None,
    junit_path: Path | None,
    summary_md: Path | None,
) -> None:
    pct = fail_on_regression if fail_on_regression is not None else 0.0
    regressions = comparison.regressions(pct)
    if junit_path is not None:
        cases = compare_cases(comparison.rows, regressions, pct)
        name = f"compare {comparison.base} -> {comparison.new}"
        junit.write(junit_path, [junit.Suite(name, tuple(cases))])
    text = job_summary.compare_summary(
        comparison.base, comparison.new, comparison.rows, regressions, machine
    )
    job_summary.write(summary_md, text)
