"""A Markdown job summary (GitHub Actions' $GITHUB_STEP_SUMMARY, or any file): the ranking, the
thresholds with their verdicts, the cells that cannot be trusted, and, for `compare`, the
changes. Plain GitHub-flavoured Markdown tables, so any Markdown viewer shows it too."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd

from analysis import thresholds
from analysis.ci.stopped import Stopped
from analysis.ci.text import printable
from record.errors import UserError

STEP_SUMMARY_VAR = "GITHUB_STEP_SUMMARY"  # GitHub Actions appends this file to the job page
UNRUN_LISTED = 20  # unrun cells named in the summary; a full suite can leave thousands


def _cell(value: object) -> str:
    text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def md_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _num(value: float, digits: int = 1) -> str:
    return (
        f"{value:,.{digits}f}" if isinstance(value, float | int) and math.isfinite(value) else "–"
    )


def run_summary(
    run_id: str,
    summary: pd.DataFrame,
    ranking: pd.DataFrame,
    verdicts: list[thresholds.ThresholdVerdict],
    stop: Stopped | None = None,
) -> str:
    """The run's summary as Markdown; `stop`: why the run ended before its last cell."""
    parts = [f"## tornado-bench run `{run_id}`", ""]
    counts = summary["status"].value_counts().to_dict() if len(summary) else {}
    shown = [f"{n} {k}" for k, n in sorted(counts.items())]
    if stop is not None and stop.unrun:
        shown.append(f"{len(stop.unrun)} not run")
    parts.append(", ".join(shown) or "no cells")
    if stop is not None:
        parts += ["", f"**{stop.line}**"]
    if len(ranking):
        parts += ["", "### Ranking (closed loop, best load level per strategy)", ""]
        rows = [
            [r.scenario, r.loop, r.rank, r.variant, _num(r.rps), r.users, f"{r.vs_best:.2f}"]
            for r in ranking.itertuples(index=False)
        ]
        header = ["scenario", "loop", "rank", "strategy", "req/s", "users", "vs best"]
        parts.append(md_table(header, rows))
    if verdicts:
        parts += ["", "### Thresholds", ""]
        rows = [[v.verdict, f"`{v.threshold.name}`", v.config, v.reason] for v in verdicts]
        parts.append(md_table(["verdict", "threshold", "configuration", "why"], rows))
    bad = summary[~summary["valid"].astype(bool)] if len(summary) else summary
    if len(bad):
        parts += ["", "### Cells not trusted", ""]
        rows = [[r.cell_id, r.status, _reason(r)] for r in bad.itertuples(index=False)]
        parts.append(md_table(["cell", "status", "why"], rows))
    if stop is not None and stop.unrun:
        parts += ["", "### Cells not run", "", _unrun_list(stop)]
    return printable("\n".join(parts) + "\n")


def _unrun_list(stop: Stopped) -> str:
    """The unrun cells, the first UNRUN_LISTED of them by name."""
    names = ", ".join(f"`{c}`" for c in stop.unrun[:UNRUN_LISTED])
    more = len(stop.unrun) - UNRUN_LISTED
    return names + (f" and {more} more" if more > 0 else "") + f" ({stop.skip_message})"


def _reason(row: object) -> str:
    for name in ("notes", "reason"):
        value = str(getattr(row, name, "") or "")
        if value and value != "nan":
            return value
    return ""


def compare_summary(
    base: str, new: str, rows: pd.DataFrame, regressions: list[str], machine: str
) -> str:
    """A comparison's changes as Markdown: the configurations whose req/s or p99 changed."""
    parts = [f"## tornado-bench compare `{base}` → `{new}`", "", machine, ""]
    changed = rows[(rows["rps_verdict"] != "same") | (rows["p99_verdict"] != "same")]
    if regressions:
        parts += [f"**{len(regressions)} regression(s)**: " + ", ".join(regressions), ""]
    if changed.empty:
        parts.append("No configuration changed beyond the noise.")
    else:
        table = [
            [
                r.config,
                f"{r.rps_change:+.1%}",
                _ci(r.rps_ci_lo, r.rps_ci_hi),
                r.rps_verdict,
                f"{r.p99_change:+.1%}",
                r.p99_verdict,
            ]
            for r in changed.itertuples(index=False)
        ]
        header = ["configuration", "req/s", "95% CI", "req/s verdict", "p99", "p99 verdict"]
        parts.append(md_table(header, table))
    return printable("\n".join(parts) + "\n")


def _ci(lo: float, hi: float) -> str:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "–"
    return f"[{lo:+.1%}, {hi:+.1%}]"


def destinations(summary_md: Path | None) -> list[tuple[Path, str]]:
    """Where the summary goes, and how: the file given (written), and $GITHUB_STEP_SUMMARY
    when set (appended, as GitHub asks, so earlier steps' summaries stay)."""
    out = []
    if summary_md is not None:
        out.append((summary_md, "w"))
    step = os.environ.get(STEP_SUMMARY_VAR)
    if step:
        out.append((Path(step), "a"))
    return out


def write(summary_md: Path | None, text: str) -> list[Path]:
    """Write the summary where asked; nothing when neither --summary-md nor the variable."""
    written = []
    for path, mode in destinations(summary_md):
        try:
            # Like --junit: a folder that does not exist yet is made (options.py refused,
            # before the run, a path where none can be).
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, mode, encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise UserError(f"job summary: cannot write {path} ({exc.strerror or exc})") from None
        written.append(path)
    return written
