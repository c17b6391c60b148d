"""Run folder → summary.csv, endpoints.csv, charts/*.png|svg and one self-contained report.html.
Idempotent: rebuilding from the same raw data gives the same files.

The page's markup is analysis/report/templates/report.html, rendered with autoescape on; its
sections' content is analysis/report/sections.py. Both only get plain data (strings, rows of
strings, CSS classes)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import tornado.template

from analysis import aggregate, thresholds
from analysis.cellpass import Passes
from analysis.figures import interactive
from analysis.figures.charts import CHARTS, Chart, ChartInputs, start_charts
from analysis.figures.interactive import InteractiveChart
from analysis.load import RunData
from analysis.openloop import closed_cells
from analysis.readings.machine import contention_line
from analysis.report.interactive import page_script
from analysis.report.load_generator import calibration_text, ceiling_warning
from analysis.report.sections import CHARTS_DIR, TE_CHART, page_sections
from analysis.report.tables import table_text
from record import io
from record.layout import RunLayout
from record.records import RunRecord
from record.thresholds import thresholds_of

# Kept importable from here: callers and tests read these through the report module.
__all__ = ["ReportResult", "render_html", "report_from", "table_text"]

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class ReportResult:
    """What building a report gave, for its caller to print and to hand to CI's outputs: the
    run's record and its thresholds' verdicts (judged once, here) with the summary."""

    run: RunRecord
    summary: pd.DataFrame
    ranking: pd.DataFrame
    verdicts: list[thresholds.ThresholdVerdict]
    charts: list[Chart]
    report_path: Path
    table_text: str


def report_from(run: RunData, passes: Passes) -> ReportResult:
    """The rest of build_report (analysis/report/build.py) once every cell's rows were read
    (its hlog written): summary.csv, endpoints.csv, the charts, drawn in worker processes
    (the PNGs and SVGs) while this one builds the interactive charts' data, and the page."""
    layout = RunLayout(run.path)
    summary = aggregate.summary_of(run.cells, passes.stats(), run.run_id)
    csv_frame = summary.reindex(columns=aggregate.SUMMARY_COLUMNS)
    io.atomic_write(run.path / "summary.csv", lambda tmp: csv_frame.to_csv(tmp, index=False))
    table = passes.endpoint_table()
    io.atomic_write(layout.endpoints_csv, lambda tmp: table.to_csv(tmp, index=False))
    # Ranked by req/s per users: closed-loop cells only (open-loop ones are ranked by the
    # rate they sustained, sections._sustained_section).
    ranking = aggregate.ranking(closed_cells(summary))
    material = ChartInputs(run, summary, ranking)
    with start_charts(material, run.path / CHARTS_DIR) as rendering:
        drawn = interactive.build(material, [s.name for s in CHARTS if s.name != TE_CHART])
        charts = rendering.charts()
    drawn = {name: chart for name, chart in drawn.items() if name in {c.name for c in charts}}
    report_path = layout.report_html
    verdicts = thresholds.judge(summary, thresholds_of(run.run.suite))
    page = render_html(run, summary, ranking, table, charts, drawn, verdicts)
    io.write_bytes(report_path, page)
    return ReportResult(
        run.run, summary, ranking, verdicts, charts, report_path, table_text(summary)
    )


def render_html(
    run: RunData,
    summary: pd.DataFrame,
    ranking: pd.DataFrame,
    endpoints: pd.DataFrame,
    charts: list[Chart],
    drawn: Mapping[str, InteractiveChart] | None = None,
    verdicts: list[thresholds.ThresholdVerdict] | None = None,
) -> bytes:
    """report.html's bytes (UTF-8). `endpoints`: the endpoints.csv table; `drawn`: the charts
    the page draws itself (by name), the others are shown as their PNG; `verdicts`: the
    thresholds' (judged when not given)."""
    loader = tornado.template.Loader(str(TEMPLATES), autoescape="xhtml_escape")
    record = run.run
    drawn = drawn or {}
    if verdicts is None:
        verdicts = thresholds.judge(summary, thresholds_of(record.suite))
    sections = page_sections(run, summary, ranking, endpoints, charts, drawn, verdicts)
    return loader.load("report.html").generate(
        run_id=run.run_id,
        suite_name=record.settings.name,
        started=_when(record.started),
        status=record.status,
        description=record.settings.description,
        untrusted=_untrusted(summary),
        machine=contention_line(summary),
        calibration=calibration_text(record.calibration),
        near_ceiling=ceiling_warning(summary),
        sections=sections,
        page=page_script(drawn),
        path=str(run.path),
    )


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
