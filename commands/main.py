"""run_bench.py's command line: one parser with a subcommand per task (asv's commands/), each
subcommand in its own module; bad input is one line on stderr and exit 1."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from commands import distributed, history, results, run, tools
from commands.common import EXIT_INTERRUPTED, EXIT_USER, Parser
from harness.interrupts import install_stop_signals
from record.errors import UserError


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
            "(before 2), 130 interrupted\n\n" + distributed.DISTRIBUTED_HELP
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    run.add_run(sub)
    results.add_report_and_compare(sub)
    tools.add_tools(sub)
    run.add_calibrate(sub)
    distributed.add_commands(sub)
    history.add_command(sub)
    return parser


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
