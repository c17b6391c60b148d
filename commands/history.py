"""`run_bench.py history RESULTS_DIR... [--out DIR] [--metric M,...]` (argparse only at import:
building the parser must not import pandas)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from record.errors import UserError
from record.thresholds import METRICS

DEFAULT_METRICS = "rps,p99_ms,server_cpu_ms_per_req"


def metric_list(text: str) -> tuple[str, ...]:
    names = tuple(m.strip() for m in text.split(",") if m.strip())
    bad = [m for m in names if m not in METRICS]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"unknown metric {bad[0] if bad else text!r}; allowed: {', '.join(METRICS)}"
        )
    return names


def add_command(sub: Any) -> None:
    history = sub.add_parser(
        "history",
        help="trends and change points over many runs, as a static page",
        description="Read every run under the folders (any schema version), group cells by "
        "configuration and machine (runs on different hardware are separate series), order "
        "runs by time, find change points in each series of per-run medians (E-Divisive means, "
        "Apache Otava's variant; reported only where the runs' 95% intervals separate too; "
        "CPU-bound changes the machine-speed reading explains are marked (machine)), and write "
        "index.html with a trend chart per configuration and a table of the changes, beside "
        "points.csv and changes.csv.",
    )
    history.add_argument("dirs", nargs="+", type=Path, metavar="RESULTS_DIR")
    history.add_argument(
        "--out", type=Path, help="where the page goes (default: history/ in the first folder)"
    )
    history.add_argument(
        "--metric",
        type=metric_list,
        default=metric_list(DEFAULT_METRICS),
        metavar="M,...",
        help=f"summary columns to follow (default {DEFAULT_METRICS})",
    )
    history.set_defaults(func=cmd_history)


def cmd_history(args: argparse.Namespace) -> int:
    from analysis.history import changes, runs, series, site

    started = time.perf_counter()
    out: Path = args.out or args.dirs[0] / "history"
    found, skipped = runs.load_history(list(args.dirs))
    points = series.build_points(found, args.metric)
    if points.empty:
        raise UserError("history: the runs hold no valid cell to follow")
    table, count = changes.all_changes(points)
    page = site.write_site(out, found, points, table, count, args.metric, skipped)
    machines = len({r.machine for r in found})
    print(
        f"{len(found)} runs on {machines} machine(s), {count} series: {len(table)} change(s) "
        f"reported ({time.perf_counter() - started:.1f} s)"
    )
    for c in table.itertuples(index=False):
        tail = " (machine)" if c.cause == changes.MACHINE else ""
        print(f"  {c.config} {c.metric}: {c.change:+.1%}{tail} from run {c.run_index} {c.run_id}")
    for line in skipped:
        print(f"  not read: {line}")
    print(f"history: {page}")
    return 0
