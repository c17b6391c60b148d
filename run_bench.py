#!/usr/bin/env python3
"""tornado-bench: which Tornado concurrency strategy for which work, with numbers you can defend.

With no arguments, runs the default suite (suites/quick.toml) and builds its report.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from analysis.ci_options import add_output_options
from analysis.history import cli as history_cli
from harness import cli_load
from harness.cli_types import existing_dir, positive_float, rate_list
from harness.interrupts import install_stop_signals
from record.errors import UserError

DEFAULT_SUITE = "quick"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
# What `init` writes: a small Tornado app with a blocking and an async mode, its Locust file
# and a suite comparing them. Kept as real files in examples/ so that ruff checks them and
# they can be read in place; outside harness/, which must never hold a file importing Locust.
EXAMPLE_DIR = Path(__file__).resolve().parent / "examples" / "own_service"
EXAMPLE_FILES = ("app.py", "locustfile.py", "suite.toml")
EXIT_OK, EXIT_USER, EXIT_FAILED_CELLS, EXIT_REGRESSION, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_THRESHOLD = 99  # a threshold failed: k6's code, so CI scripts written for k6 read it alike


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake as one line, through UserError."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message} (see --help)")


# -- commands --------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from analysis.ci import abort_check
    from analysis.live import LiveJudge
    from analysis.precision import half_width_pct
    from harness.runner import load_run_suite, new_run_dir, run_suite, runs_user_code
    from harness.suite import load_suite, with_overrides

    resumed = None
    db_url = None
    if args.db_url is not None:
        from harness.postgres import check_db_url

        db_url = check_db_url(args.db_url, allow_remote=args.allow_remote)
    if args.resume is not None:
        suite, resumed = load_run_suite(args.resume, allow_remote=args.allow_remote)
        given = load_suite(args.suite, allow_remote=args.allow_remote) if args.suite else None
        if given is not None and given.name != suite.name:
            raise UserError(
                f"--resume: {args.resume} holds suite {suite.name!r}, not {args.suite!r}"
            )
        # A results folder can come from anywhere: the [[apps]] commands and Locust files
        # stored in it run only when the user's own suite file says the same.
        same = given is not None and (given.apps, given.scenarios) == (suite.apps, suite.scenarios)
        if runs_user_code(suite) and not same:
            raise UserError(
                f"--resume: {args.resume} starts [[apps]] commands or your own Locust files; "
                "name the suite file they came from (run SUITE --resume RUN_DIR) so they are "
                "checked against it"
            )
        run_dir = args.resume
    else:
        suite = with_overrides(
            load_suite(args.suite or DEFAULT_SUITE, allow_remote=args.allow_remote),
            duration_s=args.duration,
            rates=args.rates,
        )
        run_dir = new_run_dir(args.out, suite)
    distribution = cli_load.distribution_from(args)
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
    from analysis.live import LiveJudge
    from harness.calibrate import calibrate

    judge = LiveJudge()
    return calibrate(args.out, workers=args.workers, duration_s=args.duration, judge=judge)


def finish_report(run_dir: Path, args: argparse.Namespace) -> int:
    """Build the report, show the thresholds' verdicts, write what CI asked for, and give the
    exit status: 99 when a threshold failed, else 2 when cells failed, else 0."""
    from analysis import ci
    from analysis.report import build_report
    from analysis.thresholds import failed as failed_thresholds
    from analysis.thresholds import format_verdicts
    from record.cells import RunRecord

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
    print(f"report: {result.report_path}")
    failed = int((result.summary["status"] == "failed").sum())
    if failed:
        print(f"{failed} cell(s) failed: the notes column says why", file=sys.stderr)
    run = RunRecord.read(run_dir)
    verdicts = ci.run_verdicts(run, result.summary)
    if verdicts:
        print(format_verdicts(verdicts))
    ci.write_run_outputs(args, run, result.summary, result.ranking, verdicts)
    breached = failed_thresholds(verdicts)
    if breached:
        print(f"{len(breached)} threshold verdict(s) failed", file=sys.stderr)
        return EXIT_THRESHOLD
    return EXIT_FAILED_CELLS if failed else EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    return finish_report(args.run_dir, args)


def cmd_compare(args: argparse.Namespace) -> int:
    from analysis.ci import write_compare_outputs
    from analysis.compare import compare_runs, format_comparison, machine_line

    comparison = compare_runs(args.base, args.new, force=args.force)
    print(format_comparison(comparison))
    write_compare_outputs(args, comparison, machine_line(comparison))
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


def cmd_list(args: argparse.Namespace) -> int:
    from harness.scenarios import SCENARIOS
    from harness.suite import SUITE_DIR, load_suite
    from harness.timing import estimate_s
    from servers.variants import VARIANTS

    print("variants:")
    for v in VARIANTS.values():
        print(f"  {v.name:14} {v.summary}")
    print("scenarios:")
    for s in SCENARIOS.values():
        params = ", ".join(f"{k}={p.lo}..{p.hi} (default {p.default})" for k, p in s.params.items())
        backend = " [starts the backend]" if s.needs_backend else ""
        print(f"  {s.name:14} {s.summary}{backend}" + (f"; {params}" if params else ""))
    print("suites:")
    for path in sorted(SUITE_DIR.glob("*.toml")):
        try:
            suite = load_suite(str(path))
        except UserError as exc:
            print(f"  {path.stem:14} INVALID: {exc}")
            continue
        cells = suite.cells()
        minutes = estimate_s(suite.warmup_s, suite.duration_s, cells) / 60
        print(f"  {suite.name:14} {len(cells):5} cells  ~{minutes:6.1f} min  {suite.description}")
    return EXIT_OK


def cmd_init(args: argparse.Namespace) -> int:
    import shutil

    target: Path = args.dir
    if target.exists() and not target.is_dir():
        raise UserError(f"init: {target} is a file, not a folder")
    taken = [name for name in EXAMPLE_FILES if (target / name).exists()]
    if taken:
        raise UserError(f"init: {target / taken[0]} exists; choose a new or empty folder")
    target.mkdir(parents=True, exist_ok=True)
    for name in EXAMPLE_FILES:
        shutil.copyfile(EXAMPLE_DIR / name, target / name)
    print(f"wrote {', '.join(str(target / n) for n in EXAMPLE_FILES)}")
    print(f"run it:  python run_bench.py run {target / 'suite.toml'}")
    print(
        "then point suite.toml's [[apps]] command at your service, and its file at your Locust file"
    )
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from servers.launch import main as serve_main

    argv = [args.variant, "--port", str(args.port), "--host", args.host, "--loop", args.loop]
    argv += ["--threads", str(args.threads), "--processes", str(args.processes)]
    argv += ["--pool-processes", str(args.pool_processes)]
    if args.backend_url:
        argv += ["--backend-url", args.backend_url]
    return serve_main(argv)


# -- parser ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="run_bench.py",
        description=(
            "Benchmark Tornado concurrency strategies (sync, coroutine, threadpool, fanout, "
            "multiprocess, gencoroutine, processpool) with Locust, and report which fits which work. "
            "With no command: run suites/quick.toml, then print its summary and report path."
        ),
        epilog=(
            "exit status: 0 suite ran (cells may be flagged invalid), 1 bad input, "
            "2 some cells failed, 3 compare found a regression, 99 a threshold failed "
            "(before 2), 130 interrupted\n\n"
            + cli_load.DISTRIBUTED_HELP
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    _add_run(sub)
    _add_report_and_compare(sub)
    _add_tools(sub)
    cli_load.add_commands(sub, RESULTS_DIR)
    history_cli.add_command(sub)
    # calibrate's cells are judged as a run's are (the analysis's own judge).
    sub.choices["calibrate"].set_defaults(func=cmd_calibrate)
    return parser


def _add_run(sub: Any) -> None:
    from harness.placement import PLACEMENTS

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
    add_output_options(run, "a testsuite with each cell's validity and each threshold's verdict")
    cli_load.add_run_options(run)
    run.set_defaults(func=cmd_run)


def _add_report_and_compare(sub: Any) -> None:
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
        "ratio with a 95%% CI (Welch t on log values, noise measured between runs). "
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


def _add_tools(sub: Any) -> None:
    from servers.config import DEFAULT_THREADS
    from servers.variants import LOOPS, VARIANT_NAMES

    lst = sub.add_parser("list", help="variants, scenarios, suites with cell counts and time")
    lst.set_defaults(func=cmd_list)

    init = sub.add_parser(
        "init",
        help="write an example app, its Locust file and a suite to start from",
        description="Write a small Tornado app with a blocking and an async mode (app.py), its "
        "Locust file (locustfile.py) and a suite comparing the two (suite.toml) into DIR: the "
        "shape of a suite for your own service ([[apps]] and [[scenarios]] file = ...).",
    )
    init.add_argument("dir", type=Path, metavar="DIR", help="folder to write into (created)")
    init.set_defaults(func=cmd_init)

    serve = sub.add_parser("serve", help="run one server variant in the foreground")
    serve.add_argument("variant", choices=[*VARIANT_NAMES, "backend"])
    serve.add_argument("--port", type=int, default=8888)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--loop", choices=LOOPS, default="asyncio")
    serve.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    serve.add_argument("--processes", type=int, default=0, help="0 = one per CPU")
    serve.add_argument(
        "--pool-processes", type=int, default=0, help="processpool's workers (0 = one per CPU)"
    )
    serve.add_argument("--backend-url")
    serve.set_defaults(func=cmd_serve)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        install_stop_signals()
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            args = parser.parse_args(["run", *(argv or [])])
        func: Callable[[argparse.Namespace], int] = args.func
        return func(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
