"""The one validity rule: why a cell's numbers cannot be trusted (README, "What the numbers mean").

Both the live progress line (through the callback commands/ hands the harness) and the
report judge cells with `judge`; nothing else decides whether a cell is valid.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from analysis.openloop import REACHED_SHARE
from record.records import MEASURED_STATUSES, UNMEASURED_STATUSES
from record.window import LATE_MS

# How busy the load generator's cores may be (harness/outcome.py: loadgen_core_pct). Above
# LOADGEN_CPU_LIMIT_PCT the generator sets the pace: the cell is invalid. Between the two it
# already shapes the result (measured against wrk: docs/architecture.md), so the cell stays
# valid but is marked generator-limited and its req/s is a lower bound.
LOADGEN_CPU_LIMIT_PCT = 90.0
GENERATOR_LIMITED_PCT = 70.0
GENERATOR_LIMITED = "generator-limited"
# Open loop: more late sends than this share, while the generator is busy, and the generator
# (not the server) shaped the schedule.
LATE_SHARE_PCT = 1.0
# Closed loop: the generator's own time may take this share of each user's request cycle
# before it shapes the rate beyond the noise (about 10 %).
CYCLE_SHARE_LIMIT = 0.10
# Above the bound means the model or the measurement is wrong, never a result to publish.
EFFICIENCY_LIMIT = 1.05
# req/s above this share of the generator's calibrated ceiling (run_bench.py calibrate: the
# most req/s one Locust process sends, times the cell's processes) reads the generator as
# much as the server: the cell stays valid, marked generator-limited.
CEILING_NEAR_PCT = 80.0
# Other processes used more than this share of the server's or the generator's cores during
# the window (harness/outcome.py foreign_cpu): the machine, not the strategy, may have set
# the figures. The cell stays valid but is flagged contended: never ranked, never blamed on
# the code by compare or history, its thresholds inconclusive. Measured here (2 cores, split
# placement, coroutine /hello at 10 users): quiet cells read 0-5 %; a busy loop pinned to the
# server's core 54 % on it (and 23 % on the generator's, the harness and kernel spilling over).
CONTENDED_PCT = 15.0
CONTENDED = "contended"
# The generator's own event loop woke late (loadgen/lag.py: a 10 ms sleep's lateness, p99):
# every timestamp it took then is late by as much, so its figures hold the generator's pauses.
# Stalled when that lag is over STALL_SHARE of the cell's p99 latency (the tail is then as
# much the generator's as the server's) and over STALL_FLOOR_MS (a busy gevent hub wakes a
# few ms late; a feed broadcast drained in 100-355 ms on the Locust side while the server's
# own spread was about 50 ms). Valid, said like a generator-limited cell: latency is an upper
# bound.
STALL_SHARE = 0.2
STALL_FLOOR_MS = 5.0
GENERATOR_STALLED = "generator stalled"


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def stall_marks(*, status: str, lag_p99_ms: float, p99_ms: float) -> list[str]:
    """A note on a measured cell whose generator's event loop lagged beyond what its latency
    can absorb."""
    if status not in MEASURED_STATUSES or not _present(lag_p99_ms):
        return []
    if lag_p99_ms <= STALL_FLOOR_MS or not (_present(p99_ms) and lag_p99_ms > STALL_SHARE * p99_ms):
        return []
    return [
        f"{GENERATOR_STALLED}: the generator's event loop woke {lag_p99_ms:.0f} ms late at its "
        f"p99 (latency p99 {p99_ms:.0f} ms): latency is an upper bound"
    ]


def burst_marks(*, status: str, busiest_pct: float, loadgen_core_pct: float) -> list[str]:
    """A note on a measured cell whose generator was at its limit in its busiest second while
    its mean over the window looked fine (a feed's broadcast arrives in bursts)."""
    if status not in MEASURED_STATUSES or not _present(busiest_pct):
        return []
    if busiest_pct <= LOADGEN_CPU_LIMIT_PCT:
        return []
    mean = f", {loadgen_core_pct:.0f}% over the window" if _present(loadgen_core_pct) else ""
    return [
        f"{GENERATOR_LIMITED}: a generator process at {busiest_pct:.0f}% of its core in its "
        f"busiest second{mean}: latency in its bursts is the generator's as much as the server's"
    ]


def marks(*, status: str, loadgen_core_pct: float, users: float = math.nan) -> list[str]:
    """Notes that qualify a valid cell without invalidating it. A closed loop of U users is
    shaped by its generator in two ways: a busy generator queues sends (its cores' load), and
    each user's cycle includes the generator's own time per request, a share of about
    busy fraction ÷ U of the cycle (one user at 53 % generator CPU read half of wrk's rate on
    /hello here: tests/benchmarks/generator_vs_wrk.py)."""
    if status not in MEASURED_STATUSES or not _present(loadgen_core_pct):
        return []
    if GENERATOR_LIMITED_PCT < loadgen_core_pct <= LOADGEN_CPU_LIMIT_PCT:
        return [
            f"{GENERATOR_LIMITED}: generator cores at {loadgen_core_pct:.0f}%, req/s is a lower bound"
        ]
    share = loadgen_core_pct / 100.0 / users if _present(users) and users > 0 else 0.0
    if loadgen_core_pct <= LOADGEN_CPU_LIMIT_PCT and share > CYCLE_SHARE_LIMIT:
        return [
            f"{GENERATOR_LIMITED}: the generator takes about {share:.0%} of each user's request "
            "cycle, req/s is a lower bound"
        ]
    return []


def ceiling_marks(*, status: str, ceiling_pct: float) -> list[str]:
    """A note on a measured cell whose req/s came near the generator's calibrated ceiling."""
    if status not in MEASURED_STATUSES or not _present(ceiling_pct):
        return []
    if ceiling_pct <= CEILING_NEAR_PCT:
        return []
    return [
        f"{GENERATOR_LIMITED}: req/s at {ceiling_pct:.0f}% of the load generator's calibrated "
        "ceiling, a lower bound"
    ]


def contention_marks(
    *, status: str, foreign_server_pct: float, foreign_generator_pct: float
) -> list[str]:
    """A note on a measured cell whose cores other processes used beyond CONTENDED_PCT."""
    if status not in MEASURED_STATUSES:
        return []
    figures = [v for v in (foreign_server_pct, foreign_generator_pct) if _present(v)]
    if not figures or max(figures) <= CONTENDED_PCT:
        return []
    return [
        f"{CONTENDED}: other processes used {foreign_server_pct:.0f}% of the server's cores and "
        f"{foreign_generator_pct:.0f}% of the generator's during the window (machine busy: not "
        "ranked, not compared)"
    ]


def open_loop_notes(
    *,
    offered: float,
    achieved: float,
    late_pct: float,
    loadgen_core_pct: float,
    unanswered_pct: float = math.nan,
) -> tuple[list[str], list[str]]:
    """(problems, marks) of an open-loop cell. A server that cannot keep up is the finding
    (its corrected latency is reported: that is the point); a generator that sends late
    because its own cores are busy measures itself, so that cell is invalid."""
    if not _present(offered):
        return [], []
    problems, qualifiers = [], []
    busy = _present(loadgen_core_pct) and loadgen_core_pct > GENERATOR_LIMITED_PCT
    if _present(late_pct) and late_pct > LATE_SHARE_PCT and busy:
        problems.append(
            f"generator late: {late_pct:.0f}% of requests sent over {LATE_MS:g} ms after their "
            f"slot while its cores were at {loadgen_core_pct:.0f}%"
        )
    if _present(achieved) and achieved < REACHED_SHARE * offered:
        qualifiers.append(f"target rate not reached: {achieved:,.1f} of {offered:,.1f} req/s")
    if _present(unanswered_pct) and unanswered_pct > 0:
        share = f"{unanswered_pct:.0f}%" if unanswered_pct >= 1 else f"{unanswered_pct:.2g}%"
        qualifiers.append(
            f"{share} of the window's slots had no answer when the load stopped: "
            "corrected percentiles are lower bounds"
        )
    return problems, qualifiers


def judge(
    *,
    status: str,
    reason: str,
    requests: int,
    error_rate: float,
    efficiency: float,
    loadgen_core_pct: float,
    max_error_rate: float,
    seen: str = "",
) -> list[str]:
    """Problems with one cell; an empty list means the cell is valid. `seen` is what the
    harness saw go wrong during the load (CellRecord.problems, joined)."""
    if status == "failed":
        return [f"failed: {reason}" if reason else "failed"]
    if status == "interrupted":
        return ["interrupted"]
    notes = [p for p in seen.split("; ") if p]
    if _present(loadgen_core_pct) and loadgen_core_pct > LOADGEN_CPU_LIMIT_PCT:
        notes.append(f"load generator cores at {loadgen_core_pct:.0f}% CPU")
    if _present(error_rate) and error_rate > max_error_rate:
        notes.append(f"error rate {error_rate:.1%} above {max_error_rate:.1%}")
    if not requests:
        notes.append("no requests completed in the window")
    if _present(efficiency) and efficiency > EFFICIENCY_LIMIT:
        notes.append(f"{efficiency:.2f}x the model bound: model or measurement wrong")
    return notes


def row_problems(row: Any, count_generator: bool = True) -> tuple[list[str], list[str]]:
    """One summary row's problems (any: invalid) and qualifiers (said, never a problem).
    count_generator=False leaves out what the generator's own CPU decides: calibrate measures
    the generator at that limit, where a run's cell no longer measures the server."""
    core = float(getattr(row, "loadgen_core_pct", row.loadgen_cpu_pct))
    judged_core = core if count_generator else math.nan
    problems = judge(
        status=row.status,
        reason=str(getattr(row, "reason", "") or ""),
        requests=int(row.requests),
        error_rate=float(row.error_rate),
        efficiency=float(row.efficiency),
        loadgen_core_pct=judged_core,
        max_error_rate=float(row.max_error_rate),
        seen=str(getattr(row, "problems", "") or ""),
    )
    closed = pd.isna(getattr(row, "rate", math.nan))
    users = float(row.users) if closed and hasattr(row, "users") else math.nan
    qualifiers = marks(status=row.status, loadgen_core_pct=core, users=users)
    qualifiers += ceiling_marks(
        status=row.status, ceiling_pct=float(getattr(row, "ceiling_pct", math.nan))
    )
    qualifiers += burst_marks(
        status=row.status,
        busiest_pct=float(getattr(row, "generator_busiest_pct", math.nan)),
        loadgen_core_pct=core,
    )
    qualifiers += stall_marks(
        status=row.status,
        lag_p99_ms=float(getattr(row, "generator_lag_p99_ms", math.nan)),
        p99_ms=float(getattr(row, "p99_ms", math.nan)),
    )
    qualifiers += contention_marks(
        status=row.status,
        foreign_server_pct=float(getattr(row, "foreign_cpu_server", math.nan)),
        foreign_generator_pct=float(getattr(row, "foreign_cpu_generator", math.nan)),
    )
    if row.status not in UNMEASURED_STATUSES:
        extra, more = open_loop_notes(
            offered=float(getattr(row, "offered_rps", math.nan)),
            achieved=float(getattr(row, "achieved_rps", math.nan)),
            late_pct=float(getattr(row, "late_pct", math.nan)),
            loadgen_core_pct=judged_core,
            unanswered_pct=float(getattr(row, "unanswered_pct", math.nan)),
        )
        problems += extra
        qualifiers += more
    # What the harness noted about the cell (CellRecord.notes): said, never a problem.
    qualifiers += [n for n in str(getattr(row, "cell_notes", "") or "").split("; ") if n]
    return problems, qualifiers


def apply(summary: pd.DataFrame) -> pd.DataFrame:
    """valid, generator_limited, contended and notes columns for every cell; an ok cell with
    problems becomes invalid. Needs status, reason, requests, error_rate, efficiency,
    loadgen_core_pct, max_error_rate; reads ceiling_pct, foreign_cpu_server and _generator,
    and cell_notes when present."""
    out = summary.copy()
    problems, qualifiers = [], []
    for row in out.itertuples(index=False):
        mine, said = row_problems(row)
        problems.append(mine)
        qualifiers.append(said)
    out["valid"] = [not p for p in problems]
    out["generator_limited"] = [
        any(GENERATOR_LIMITED in m for m in q) and not p
        for p, q in zip(problems, qualifiers, strict=True)
    ]
    out["contended"] = [any(m.startswith(CONTENDED) for m in q) for q in qualifiers]
    out["notes"] = ["; ".join(p + q) for p, q in zip(problems, qualifiers, strict=True)]
    out.loc[(out["status"] == "ok") & ~out["valid"], "status"] = "invalid"
    return out
