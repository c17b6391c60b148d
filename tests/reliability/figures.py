"""The reliability attacks as a measurement, not a pass/fail: one Markdown table per family.

    python -m tests.reliability.figures [--skip hostile,slow,upstream,misuse]

Reuses the attack functions of the test modules in this folder, so the figures are exactly
what the tests judge. Takes about 2-3 minutes on a 2-core machine (the slow clients alone
take ~35 s: they wait for the servers' own timeouts). Every server, backend, harness run and
socket it starts is stopped or closed before it returns, on error or Ctrl-C too.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from catalog.strategies import VARIANT_NAMES
from tests.conftest import start_server
from tests.reliability import test_hostile_http as hostile
from tests.reliability import test_misuse as misuse
from tests.reliability import test_slow_clients as slow
from tests.reliability import test_upstream_faults as upstream

FAMILIES = ("hostile", "slow", "upstream", "misuse", "faults", "interrupts", "writes")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _s(seconds: float | None, limit: float) -> str:
    return f"still open at {limit:.0f} s" if seconds is None else f"{seconds:.1f}"


def hostile_figures() -> str:
    backend = start_server("backend")
    rows = []
    try:
        for variant in VARIANT_NAMES:
            server = hostile.start_hostile_target(variant, backend.base)
            try:
                f = hostile.hostile_attack(server, variant)
            finally:
                server.child.stop()
            rows.append(
                [
                    variant,
                    f.requests,
                    f.crashes,
                    f.other_5xx,
                    f"{f.longest_refusal_ms:.1f}",
                    len(f.bad_refusals()),
                    f.dropped,
                    f.timed_out,
                    f.health_after,
                ]
            )
    finally:
        backend.child.stop()
    return table(
        [
            "variant",
            "requests sent",
            "crashes",
            "5xx other than 502/504",
            "longest parameter refusal (ms)",
            "refusals not a quick 400",
            "connections dropped without an answer",
            "connections left hanging (2 s)",
            "/health after",
        ],
        rows,
    )


def slow_figures() -> str:
    servers = slow.start_servers()
    try:
        with ThreadPoolExecutor(max_workers=len(servers)) as pool:
            brief = dict(
                zip(servers, pool.map(slow.brief_slow_headers, servers.values()), strict=True)
            )
        figures = slow.slow_client_figures(servers)
    finally:
        slow.stop_servers(servers)
    rows = [
        [
            v,
            _s(f.header_drop_s, slow.HEADER_GIVE_UP_S),
            _s(f.body_drop_s, slow.BODY_GIVE_UP_S),
            _s(f.idle_drop_s, slow.IDLE_GIVE_UP_S),
            f"{f.health_worst_ms:.1f}",
            f"{f.health_answers - f.health_failures}/{f.health_answers}",
            f"{brief[v]:.1f}",
        ]
        for v, f in figures.items()
    ]
    return table(
        [
            "variant",
            "slow headers dropped after (s)",
            "slow body dropped after (s)",
            "idle keep-alive dropped after (s)",
            "/health worst meanwhile (ms)",
            "/health 200s",
            "/health worst, 3 slow-header clients for 2 s (ms)",
        ],
        rows,
    )


def upstream_figures() -> str:
    results = upstream.upstream_faults()
    columns = [(fault, path) for fault in upstream.FAULTS for path in upstream.PATHS]
    rows = []
    for v in VARIANT_NAMES:
        row: list[object] = [v]
        for fault, path in columns:
            r = results[(v, path, fault)]
            status = "no answer" if r.status is None else r.status
            mark = "" if r.ok() else " ✗"
            row.append(f"{status} in {r.seconds:.2f} s{mark}")
        rows.append(row)
    headers = ["variant"] + [f"{fault} {path.split('?')[0]}" for fault, path in columns]
    expected = ", ".join(
        f"{fault} → {status} ≤ {limit:.1f} s"
        for fault, (status, limit) in upstream.EXPECTED.items()
    )
    return (
        table(headers, rows)
        + f"\n\nms = {upstream.MS}; /fanout is n=2. Expected: {expected}. ✗ marks a miss."
    )


def misuse_figures() -> str:
    rows = []
    with tempfile.TemporaryDirectory(prefix="misuse-") as tmp:
        for name in misuse.CASES:
            if name == "out-read-only" and os.geteuid() == 0:
                rows.append([name, "skipped: root writes into a 0500 directory"] + [""] * 7)
                continue
            o = misuse.misuse_case(name, Path(tmp) / name)
            last = o.stderr_lines[-1][:90] if o.stderr_lines else ""
            rows.append(
                [
                    name,
                    o.returncode,
                    len(o.stderr_lines),
                    "yes" if o.traceback else "no",
                    len(o.half_written),
                    len(o.leftovers),
                    len(o.network),
                    f"{o.seconds:.1f}",
                    last,
                ]
            )
    return table(
        [
            "case",
            "exit",
            "stderr lines",
            "traceback",
            "half-written files",
            "processes left",
            "non-loopback attempts",
            "seconds",
            "last stderr line",
        ],
        rows,
    )


RUNNERS: dict[str, tuple[str, Callable[[], str]]] = {
    "hostile": ("Hostile raw HTTP (each variant, whole battery twice)", hostile_figures),
    "slow": ("Slow clients (every variant at once)", slow_figures),
    "upstream": ("Upstream faults", upstream_figures),
    "misuse": ("CLI misuse (`python run_bench.py ...` under a network guard)", misuse_figures),
    "faults": ("Process faults during a suite (second cell of three)", lambda: faults_figures()),
    "interrupts": (
        "Signals at random moments of a 3-cell suite, then --resume",
        lambda: interrupt_figures(),
    ),
    "writes": ("SIGKILL at random moments while `report` writes results", lambda: write_figures()),
}


def faults_figures() -> str:
    from tests.reliability.process_faults import VICTIMS, process_fault

    rows = []
    for victim in VICTIMS:
        with tempfile.TemporaryDirectory() as tmp:
            f = process_fault(Path(tmp), victim)
        why = f.reason or f.notes or "-"
        rows.append(
            [
                victim,
                f.status,
                why,
                f.next_cell_status,
                f.first_cell_unchanged,
                f.exit_status,
                f.left_running,
            ]
        )
    return table(
        [
            "killed",
            "cell status",
            "reason / notes",
            "next cell",
            "earlier files identical",
            "exit",
            "left running",
        ],
        rows,
    )


def interrupt_figures(seed: int = 1234) -> str:
    import random
    import signal

    from tests.reliability.interrupts import interrupt_run

    rng = random.Random(seed)
    moments = [
        (rng.choice([signal.SIGINT, signal.SIGTERM]), rng.uniform(0.2, 14)) for _ in range(20)
    ]
    moments += [(signal.SIGKILL, rng.uniform(0.2, 14)) for _ in range(5)]
    rows = []
    for sig, at_s in moments:
        with tempfile.TemporaryDirectory() as tmp:
            r = interrupt_run(Path(tmp), sig, at_s)
        rows.append(
            [
                r.signal,
                f"{r.at_s:.1f}",
                r.exit_status,
                f"{r.stop_s:.2f}",
                r.orphans,
                r.listening,
                r.cells_done_before,
                r.cells_lost,
                r.resume_status,
                r.resume_complete,
            ]
        )
    return table(
        [
            "signal",
            "at s",
            "exit",
            "stopped in s",
            "orphans",
            "ports listening",
            "cells done",
            "cells lost",
            "resume exit",
            "resume complete",
        ],
        rows,
    )


def write_figures(seed: int = 1234, kills: int = 50) -> str:
    import random

    from analysis.synthetic import write_synthetic_run
    from tests.reliability.interrupts import check_results, kill_report

    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        write_synthetic_run(run, cells=12, requests=120_000, flat=True)  # as the kills were chosen
        results = [kill_report(run, rng.uniform(0.3, 4.0)) for _ in range(kills)]
        files, bad, rebuilt = check_results(run)
    unreadable = sum(r.unreadable for r in results)
    failed = sum(not r.report_rebuilt for r in results)
    return table(
        [
            "kills",
            "kill moments (s)",
            "files checked after each",
            "truncated or unreadable",
            "load_run/report failed",
            "final files (unreadable)",
            "final rebuild",
        ],
        [
            [
                kills,
                f"{min(r.at_s for r in results):.1f}-{max(r.at_s for r in results):.1f}",
                sum(r.files for r in results),
                unreadable,
                failed,
                f"{files} ({bad})",
                rebuilt,
            ]
        ],
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.figures")
    parser.add_argument("--skip", default="", help=f"comma-separated, of {','.join(FAMILIES)}")
    args = parser.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = skip - set(FAMILIES)
    if unknown:
        parser.error(f"unknown family: {', '.join(sorted(unknown))}")
    started = time.monotonic()
    for key in FAMILIES:
        if key in skip:
            continue
        title, run = RUNNERS[key]
        t0 = time.monotonic()
        body = run()
        print(f"### {title}\n\n{body}\n\n({time.monotonic() - t0:.0f} s)\n", flush=True)
    print(f"total {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
