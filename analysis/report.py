"""Run folder → summary.csv, charts/*.png|svg and one self-contained report.html.
Idempotent: rebuilding from the same raw data gives the same files.

The page's markup is analysis/templates/report.html, rendered with autoescape on; this module
only prepares plain data (strings, rows of strings, CSS classes) for it."""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import tornado.template

from analysis import aggregate, table
from analysis.charts import Chart, Material, build_charts
from analysis.load import RunData, load_run
from analysis.readings import read_ranking
from analysis.readings_stability import stability_items
from analysis.table import Table, table_text
from record import io
from record.cells import Placement

# Kept importable from here: callers and tests read these through the report module.
__all__ = ["ReportResult", "build_report", "render_html", "table_text"]

TEMPLATES = Path(__file__).parent / "templates"
CELLS_NOTE = (
    "Percentiles are exact (nearest rank) over the raw latencies of successful requests that "
    "completed inside the measured window; warm-up excluded. bound = the model's upper bound "
    "on req/s; eff = req/s ÷ bound."
)
REPEATS_NOTE = (
    "Mean and 95% confidence half-width (Student t) across repeats of valid cells; unstable = "
    "coefficient of variation of req/s above 10%."
)

STABILITY_NOTE = (
    "The 95% interval of req/s comes from a block bootstrap over the window's seconds, or from "
    "the repeats when a configuration has several valid ones."
)


@dataclass(frozen=True)
class ReportResult:
    summary: pd.DataFrame
    ranking: pd.DataFrame
    charts: list[Chart]
    report_path: Path
    table_text: str


@dataclass(frozen=True)
class Figure:
    """A chart as the page shows it: the PNG inline as base64, so the page stands alone."""

    name: str
    title: str
    reading: str
    data: str

    @classmethod
    def of(cls, chart: Chart) -> Figure:
        return cls(chart.name, chart.title, chart.reading, base64.b64encode(chart.png).decode())


@dataclass(frozen=True)
class Section:
    """One h2 section of the page; the template shows the parts that are set, in this order."""

    title: str
    note: str = ""
    table: Table | None = None
    figures: list[Figure] = field(default_factory=list)
    text: str = ""
    items: list[str] = field(default_factory=list)  # a short bulleted note


def build_report(run_dir: str | Path) -> ReportResult:
    run = load_run(run_dir)
    summary = aggregate.build_summary(run.cells, run.requests, run.run_id)
    csv_frame = summary.reindex(columns=aggregate.SUMMARY_COLUMNS)
    io.atomic_write(run.path / "summary.csv", lambda tmp: csv_frame.to_csv(tmp, index=False))
    ranking = aggregate.ranking(summary)
    repeats = aggregate.repeat_groups(summary) if len(summary) else pd.DataFrame()
    charts = build_charts(Material(run, summary, ranking), run.path / "charts")
    report_path = run.path / "report.html"
    io.write_bytes(report_path, render_html(run, summary, ranking, repeats, charts))
    return ReportResult(summary, ranking, charts, report_path, table_text(summary))


def render_html(
    run: RunData,
    summary: pd.DataFrame,
    ranking: pd.DataFrame,
    repeats: pd.DataFrame,
    charts: list[Chart],
) -> bytes:
    """report.html's bytes (UTF-8)."""
    loader = tornado.template.Loader(str(TEMPLATES), autoescape="xhtml_escape")
    record = run.run
    return loader.load("report.html").generate(
        run_id=run.run_id,
        suite_name=record.suite_name,
        started=_when(record.started),
        status=record.status,
        description=str(record.suite.get("description", "")),
        untrusted=_untrusted(summary),
        sections=_sections(run, summary, ranking, repeats, charts),
        path=str(run.path),
    )


def _sections(
    run: RunData,
    summary: pd.DataFrame,
    ranking: pd.DataFrame,
    repeats: pd.DataFrame,
    charts: list[Chart],
) -> list[Section]:
    """The page's sections in order."""
    sections = [
        Section(
            "Which strategy for which work",
            table=table.ranking_table(ranking) if len(ranking) else None,
            text=read_ranking(ranking),
        ),
        Section("Charts", figures=[Figure.of(chart) for chart in charts]),
    ]
    shares = {cell_id: record.server_shares for cell_id, record in run.records.items()}
    stability = stability_items(summary, shares)
    if stability:
        sections.append(Section("Stability", note=STABILITY_NOTE, items=stability))
    sections += [
        Section(
            "Every cell",
            note=CELLS_NOTE,
            table=table.cells_table(summary) if len(summary) else None,
        ),
    ]
    if len(repeats) and (repeats["repeats"] > 1).any():
        sections.append(Section("Repeats", note=REPEATS_NOTE, table=table.repeats_table(repeats)))
    environment = pd.DataFrame(_environment(run), columns=["what", "value"])
    sections.append(
        Section("Environment", table=table.html_table(environment, left={"what", "value"}))
    )
    return sections


def _when(started: float) -> str:
    if not math.isfinite(started):
        return "?"
    return datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _untrusted(summary: pd.DataFrame) -> str:
    """'2 cell(s) invalid, 1 cell(s) failed', or '' when every cell is ok."""
    if summary.empty:
        return ""
    counts = summary["status"].value_counts().to_dict()
    return ", ".join(f"{n} cell(s) {status}" for status, n in counts.items() if status != "ok")


def _placement_text(placement: Placement | None) -> str:
    if placement is None:
        return "?"
    server = ", ".join(map(str, placement.server_cpus))
    loadgen = ", ".join(map(str, placement.loadgen_cpus))
    if placement.mode == "split":
        return f"split: server on CPU {server}; load generator and backend on CPU {loadgen}"
    return f"shared: every process on CPUs {server}"


def _environment(run: RunData) -> list[tuple[str, str]]:
    """(what, value) rows of the environment table."""
    env: dict[str, Any] = run.run.environment
    suite = run.run.suite
    cpu = env.get("cpu", {})
    git = env.get("git", {})
    return [
        ("CPU", f"{cpu.get('model', '?')} ({cpu.get('cores', '?')} cores)"),
        ("memory", f"{env.get('memory', {}).get('total_bytes', 0) / 2**30:.1f} GiB"),
        ("OS", str(env.get("os", {}).get("platform", "?"))),
        ("Python", str(env.get("python", {}).get("version", "?"))),
        ("packages", ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items())),
        ("git commit", f"{git.get('commit', '')}{' (modified)' if git.get('dirty') else ''}"),
        ("placement", _placement_text(run.run.placement)),
        (
            "suite",
            f"duration {suite.get('duration_s')} s, warm-up {suite.get('warmup_s')} s, "
            f"repeats {suite.get('repeats')}, max error rate {suite.get('max_error_rate')}, "
            f"threads {suite.get('threads')}, processes {suite.get('processes')}",
        ),
    ]
