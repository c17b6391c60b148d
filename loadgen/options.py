"""The command-line options the harness passes to Locust (Locust parses them with its own
arguments once a listener of init_command_line_parser has added them)."""

from __future__ import annotations

from typing import Any

from catalog.limits import DEFAULT_ARRIVALS
from loadgen.cpu import cpu_set


def argparse_suppress() -> str:
    import argparse

    return argparse.SUPPRESS


def add_bench_options(parser: Any) -> None:
    group = parser.add_argument_group("tornado-bench")
    group.add_argument("--bench-out", default="", help="cell folder for raw records")
    group.add_argument("--bench-warmup", type=float, default=0.0, help="warm-up seconds")
    group.add_argument("--bench-duration", type=float, default=0.0, help="measured seconds")
    group.add_argument(
        "--bench-tail", type=float, default=0.0, help="seconds of load after the window"
    )
    group.add_argument(
        "--bench-rate", type=float, default=0.0, help="open loop: offered req/s (0: closed loop)"
    )
    group.add_argument(
        "--bench-arrivals", default=DEFAULT_ARRIVALS, help="open loop: constant or poisson arrivals"
    )
    group.add_argument(
        "--bench-scenario-files",
        default="",
        help="master: the cell's built-in scenario files, which every worker must have alike",
    )
    group.add_argument(
        "--bench-go-file",
        default="",
        help="start the load only once this file exists (the harness creates it when the "
        "servers are verified)",
    )
    group.add_argument(
        "--bench-cpus",
        type=cpu_set,
        default=(),
        help='cores to run the load on, once imported ("1", "0,1"; default: where started)',
    )
    group.add_argument(
        "--bench-no-record",
        action="store_true",
        help="count requests without recording them (calibrate: the recorder's own cost)",
    )
    # Set by the master at the start; each worker gets it with its spawn message.
    group.add_argument("--bench-workers-total", type=int, default=1, help=argparse_suppress())
    # Scenario parameters (each scenario reads the ones it needs).
    group.add_argument("--ms", type=int, default=50, help="simulated wait per call (ms)")
    group.add_argument("--n", type=int, default=4, help="calls (fanout) or CPU units (cpu)")
