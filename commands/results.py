"""`report` and `compare`: what a finished run says, and how two runs differ."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from commands.common import EXIT_OK, EXIT_REGRESSION, finish_report
from commands.outputs import add_output_options
from commands.types import existing_dir, positive_float


def cmd_report(args: argparse.Namespace) -> int:
    return finish_report(args.run_dir, args)


def cmd_compare(args: argparse.Namespace) -> int:
    from analysis.ci.outputs import write_compare_outputs
    from analysis.compare.runs import compare_runs, format_comparison, machine_line

    comparison = compare_runs(args.base, args.new, force=args.force)
    print(format_comparison(comparison))
    write_compare_outputs(
        comparison,
        machine_line(comparison),
        args.fail_on_regression,
        args.junit,
        args.summary_md,
    )
    if args.fail_on_regression is not None:
        worse = comparison.regressions(args.fail_on_regression)
        if worse:
            print(
                f"{len(worse)} cell(s) slower by more than {args.fail_on_regression:g}% "
                "(significant across repeats, not the machine): " + ", ".join(worse),
                file=sys.stderr,
            )
            return EXIT_REGRESSION
    return EXIT_OK


def add_report_and_compare(sub: Any) -> None:
    report = sub.add_parser(
        "report", help="rebuild summary, charts and report from a run's raw data"
    )
    report.add_argument("run_dir", type=existing_dir, metavar="RUN_DIR")
    report.add_argument("--quiet", action="store_true", help="print only the report path")
    add_output_options(report, "each cell's validity and each threshold's verdict")
    report.set_defaults(func=cmd_report)

    compare = sub.add_parser(
        "compare",
        help="per-cell change between two runs, across repeats, code vs machine",
        description="Compare two runs cell by cell, each cell's valid repeats pooled (the "
        "repeat is the sample, never a second or a request): req/s and p50/p99 latency as a "
        "ratio with a 95 % CI (Welch t on log values, noise measured between runs). "
        "faster/slower need at least 3 valid repeats a side; CPU-bound cells are corrected "
        "for the machine's speed change, timed in every run and next to every cell, and a "
        "change it explains is reported as (machine), not (code); CPU-bound cells that move "
        "together beyond it are inconclusive (machine?), never a regression.",
    )
    compare.add_argument("base", type=existing_dir, metavar="BASE")
    compare.add_argument("new", type=existing_dir, metavar="NEW")
    compare.add_argument(
        "--force", action="store_true", help="compare runs from different machines or versions"
    )
    compare.add_argument(
        "--fail-on-regression",
        type=positive_float,
        metavar="PCT",
        help="exit 3 if a cell's req/s dropped significantly, by more than PCT %%, and not "
        "because of the machine (cells with fewer than 3 valid repeats a side never fail)",
    )
    add_output_options(compare, "a testcase per configuration, failing on a regression")
    compare.set_defaults(func=cmd_compare)
