"""`build_report(run_dir)`: a run folder → summary.csv, endpoints.csv, each cell's
latency.hlog, charts/*.png|svg and one self-contained report.html. Idempotent: rebuilding from
the same raw data gives the same files.

Every cell's rows are read once (analysis/cellpass.py), in worker processes; the page's own
modules are imported meanwhile, so that the second core is not idle while they load."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from analysis import cellpass
from analysis.load import load_run

if TYPE_CHECKING:
    from analysis.report.page import ReportResult


def build_report(run_dir: str | Path) -> ReportResult:
    run = load_run(run_dir)
    with cellpass.start(run) as passing:
        # Imported here, while the workers read the cells: matplotlib, the charts, readings
        # and template take about half a second, on one core, that would otherwise come first.
        from analysis.report import page

        passes = cellpass.Passes(passing.results())
    return page.report_from(run, passes)
