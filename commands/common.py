"""What every subcommand shares: the exit statuses, the one-line usage error, and building a
run's report with the verdicts CI reads."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from record.errors import UserError

DEFAULT_SUITE = "quick"
EXIT_OK, EXIT_USER, EXIT_FAILED_CELLS, EXIT_REGRESSION, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_THRESHOLD = 99  # a threshold failed: k6's code, so CI scripts written for k6 read it alike


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake as one line, through UserError."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message} (see --help)")


def finish_report(run_dir: Path, args: argparse.Namespace) -> int:
    """Build the report, show the thresholds' verdicts, write what CI asked for, and give the
    exit status: 99 when a threshold failed, else 2 when cells failed, else 0."""
    from analysis import thresholds
    from analysis.ci import outputs
    from analysis.readings.machine import contention_line
    from analysis.report.build import build_report

    quiet = args.quiet

    try:
        result = build_report(run_dir)
    except OSError as exc:  # a full disk, a read-only folder: the raw results stay as they are
        raise UserError(
            f"cannot write the report in {run_dir} ({exc.strerror or exc}); the raw results are "
            f"kept: free space, then `python run_bench.py report {run_dir}`"
        ) from None
    if not quiet:
        print(result.table_text)
    busy = contention_line(result.summary)
    if busy:  # said before the report's path, whatever --quiet: the figures depend on it
        print(busy)
    print(f"report: {result.report_path}")
    failed = int((result.summary["status"] == "failed").sum())
    if failed:
        print(f"{failed} cell(s) failed: the notes column says why", file=sys.stderr)
    if result.verdicts:
        print(thresholds.format_verdicts(result.verdicts))
    outputs.write_run_outputs(
        result.run, result.summary, result.ranking, result.verdicts, args.junit, args.summary_md
    )
    breached = thresholds.failed(result.verdicts)
    if breached:
        print(f"{len(breached)} threshold verdict(s) failed", file=sys.stderr)
        return EXIT_THRESHOLD
    return EXIT_FAILED_CELLS if failed else EXIT_OK
