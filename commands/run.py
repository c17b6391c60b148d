"""`run` and `calibrate`: a suite's cells run, judged as they finish, then the report."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from catalog.paths import RESULTS_DIR
from commands import distributed
from commands.common import DEFAULT_SUITE, EXIT_INTERRUPTED, finish_report
from commands.outputs import add_output_options
from commands.types import (
    existing_dir,
    non_negative_float,
    positive_float,
    positive_int,
    rate_list,
)
from record.errors import UserError
from record.profile import OFF

if TYPE_CHECKING:
    from harness.suite.parse import Suite
    from record.records import RunRecord


def _resumed_suite(args: argparse.Namespace) -> tuple[Suite, RunRecord]:
    """The suite stored in the run to resume, and what it had done. A results folder can come
    from anywhere: the [[apps]] commands and Locust files stored in it run only when the
    user's own suite file, named beside --resume, says the same."""
    from harness.runner import load_run_suite, runs_user_code
    from harness.suite.parse import load_suite

    suite, resumed = load_run_suite(args.resume, allow_remote=args.allow_remote)
    given = load_suite(args.suite, allow_remote=args.allow_remote) if args.suite else None
    if given is not None and given.name != suite.name:
        raise UserError(f"--resume: {args.resume} holds suite {suite.name!r}, not {args.suite!r}")
    same = given is not None and (given.apps, given.scenarios) == (suite.apps, suite.scenarios)
    if runs_user_code(suite) and not same:
        raise UserError(
            f"--resume: {args.resume} starts [[apps]] commands or your own Locust files; "
            "name the suite file they came from (run SUITE --resume RUN_DIR) so they are "
            "checked against it"
        )
    return suite, resumed


def cmd_run(args: argparse.Namespace) -> int:
    from analysis.ci.outputs import abort_check
    from analysis.live import LiveJudge
    from analysis.precision import half_width_pct
    from harness.runner import new_run_dir, run_suite
    from harness.suite.parse import load_suite, with_overrides

    resumed: RunRecord | None = None
    db_url = None
    if args.db_url is not None:
        from harness.processes.postgres import check_db_url

        db_url = check_db_url(args.db_url, allow_remote=args.allow_remote)
    if args.resume is not None:
        suite, resumed = _resumed_suite(args)
        run_dir = args.resume
    else:
        suite = with_overrides(
            load_suite(args.suite or DEFAULT_SUITE, allow_remote=args.allow_remote),
            duration_s=args.duration,
            rates=args.rates,
        )
        run_dir = new_run_dir(args.out, suite)
    if args.no_profile:  # README, "Profiles": no py-spy, no profile files
        suite = replace(suite, profile=OFF)
    distribution = distributed.distribution_from(args)
    judge = LiveJudge()
    outcome = run_suite(
        suite,
        run_dir,
        distribution=distribution,
        placement=args.placement,
        quiet=args.quiet,
        resumed=resumed,
        judge=judge,
        precision=half_width_pct,
        db_url=db_url,
        stop=abort_check(judge.summary, suite.thresholds),
        wait_quiet_s=args.wait_quiet,
    )
    if outcome.interrupted:
        print(
            f"interrupted: completed cells kept in {run_dir}; finish with "
            f"`python run_bench.py run --resume {run_dir}`",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if outcome.aborted:
        print(f"stopped (abort_on_fail): {outcome.aborted}; cells done are kept", file=sys.stderr)
    return finish_report(run_dir, args)


def cmd_calibrate(args: argparse.Namespace) -> int:
    """calibrate's cells are judged as a run's are: by the analysis's own judge."""
    from analysis.live import LiveJudge
    from harness.calibrate import calibrate

    judge = LiveJudge()
    code = calibrate(
        args.out, workers=args.workers, duration_s=args.duration, judge=judge, profile=args.profile
    )
    if args.profile:
        from analysis.profile.generator import summary_lines
        from record.profile import calibration_profiles

        for line in summary_lines(calibration_profiles(Path(args.out))):
            print(line)
    return code


def add_run(sub: Any) -> None:
    from harness.placements import PLACEMENTS

    run = sub.add_parser(
        "run",
        help="run a suite and build its report",
        description="Run every cell of a suite (variant x loop x scenario x users x repeat), "
        "then build summary.csv, charts and report.html in the run folder. A suite may name "
        "the user's own services ([[apps]]) and Locust files ([[scenarios]] file = ...): "
        "see `run_bench.py init`.",
    )
    run.add_argument(
        "suite",
        nargs="?",
        help=f"suite file, or a name in suites/ (default: {DEFAULT_SUITE}; with --resume: the "
        "suite stored in the run)",
    )
    run.add_argument(
        "--out", type=Path, default=RESULTS_DIR, help="results folder (default: results/)"
    )
    run.add_argument(
        "--duration", type=positive_float, help="override the measured seconds per cell"
    )
    run.add_argument(
        "--rates",
        type=rate_list,
        metavar="R,...",
        help="open loop: offered req/s per cell, e.g. 50,100,200; every scenario is then sent "
        "on that schedule whatever the answers (latency corrected for coordinated omission)",
    )
    run.add_argument(
        "--placement",
        choices=PLACEMENTS,
        help="split: load generator on its own core, servers on the rest (suite default: split); "
        "shared: everything on every core",
    )
    run.add_argument(
        "--resume", type=existing_dir, metavar="RUN_DIR", help="finish an interrupted run"
    )
    run.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a target suite to load a non-loopback host (and --db-url a remote database)",
    )
    run.add_argument(
        "--db-url",
        metavar="URL",
        help="db scenarios: use this PostgreSQL database (postgresql://..., loopback unless "
        "--allow-remote; its bench_* tables are created if missing) instead of a throwaway "
        "one per cell",
    )
    run.add_argument("--quiet", action="store_true", help="no progress; print only the report path")
    run.add_argument(
        "--wait-quiet",
        type=non_negative_float,
        default=0.0,
        metavar="S",
        help="before the first cell, wait up to S seconds for other processes to leave the "
        "cores alone (the preflight says when they did not; a cell they disturb anyway is "
        "flagged contended)",
    )
    run.add_argument(
        "--no-profile",
        action="store_true",
        help="no py-spy profile of the server over each cell's window (on by default: the "
        "suite's [profile] table)",
    )
    add_output_options(run, "a testsuite with each cell's validity and each threshold's verdict")
    distributed.add_run_options(run)
    run.set_defaults(func=cmd_run)


def add_calibrate(sub: Any) -> None:
    cal = sub.add_parser(
        "calibrate",
        help="measure this machine's load generator ceiling (and wrk's, if installed)",
        description="Measure this machine's load generator with ordinary cells, in rounds "
        "(3 to 8) until each figure's 95 % interval is within 5 %: its CPU per request beside "
        "the server's in the same cells (the headroom: how many times cheaper a /hello "
        "request is to send than to serve), the same per WebSocket message (a feed of 1,000 "
        "subscribers at 5,000 messages/s), and the req/s at which one Locust worker reaches "
        "90 % CPU (a fit of CPU against req/s over cells at 32, 10 and 1 users, since part of "
        "the generator's CPU does not grow with the load); cross-checked against wrk when "
        "installed, and the raw-record recorder's cost from paired open loops. Writes "
        "calibration.json with each figure's interval; later runs store it, print the "
        "headroom in their header and draw the ceiling on the throughput chart.",
    )
    cal.add_argument("--workers", type=positive_int, default=1, help="Locust workers (default 1)")
    cal.add_argument(
        "--duration",
        type=positive_float,
        default=5.0,
        help="measured seconds of each cell and each wrk run (default 5)",
    )
    cal.add_argument("--out", default=RESULTS_DIR, help="folder of calibration.json")
    cal.add_argument(
        "--profile",
        action="store_true",
        help="also profile the Locust side of the cells with py-spy (from the server's cores): "
        "its frames and flame graphs in calibration-profile/ beside calibration.json",
    )
    cal.set_defaults(func=cmd_calibrate)
