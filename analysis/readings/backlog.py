"""What the enqueue cells' background backlog says: a server that answers at once and does the
work afterwards moves the work's cost rather than removing it. Per shown cell: the response
p50 (from the summary), the rate at which background jobs complete and the backlog's growth
(least-squares slopes over the cell's measured window) and the jobs turned away. Pure: it is
handed the summary and a reader of a cell's backlog (load.RunData.backlog); it never draws."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from analysis.readings.words import format_ms, format_rate
from catalog import workloads
from catalog.strategies import forks

MIN_SAMPLES = 3  # fewer in the window: the slopes use every sample since the load began
# A backlog's trend counts as growth (or shrinking) only when it is at least this many jobs
# per second and this many standard errors of the slope away from zero; else it is noise
# (successive polls are not independent, so two standard errors would call noise growth).
MIN_GROWTH = 1.0
GROWTH_SE = 3.0
NO_BACKLOG = "No enqueue cell with a backlog record."
ONE_PROCESS = "one process"  # a forking server's /health counts its own process's jobs only
TABLE_COLUMNS = [
    *("cell_id", "variant", "scenario", "loop", "users", "p50_ms", "rps", "one_process"),
    *("completion_rps", "growth_per_s", "growth_se", "pending_mean", "pending_max"),
    *("rejected", "window_from_s", "window_to_s"),
]

BacklogOf = Callable[[str], pd.DataFrame]


def enqueue_cells(summary: pd.DataFrame) -> pd.DataFrame:
    """The measured enqueue cells the chart shows: per scenario, loop and variant the one at
    the highest users (its first repeat)."""
    if summary.empty or "scenario_name" not in summary:
        return summary.iloc[0:0]
    polled = summary["scenario_name"].map(workloads.polls_backlog).astype(bool)
    cells = summary[polled & (summary["requests"] > 0)]
    cells = cells.sort_values(["users", "repeat"], ascending=[False, True], kind="stable")
    return cells.groupby(["scenario", "loop", "variant"], sort=False).head(1)


def _slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares slope of y over x and its standard error (NaN when not known)."""
    if len(x) < 2 or np.ptp(x) == 0:
        return math.nan, math.nan
    (slope, icept) = np.polyfit(x, y, 1)
    if len(x) < 3:
        return float(slope), math.nan
    resid = y - (slope * x + icept)
    se = math.sqrt(float(resid @ resid) / (len(x) - 2) / float(((x - x.mean()) ** 2).sum()))
    return float(slope), se


def _one_process(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the process that answered most polls (a forking server's processes each
    count their own jobs: mixing them would zigzag between processes)."""
    if frame["pid"].nunique() <= 1:
        return frame
    return frame[frame["pid"] == frame["pid"].value_counts().idxmax()]


def backlog_of(
    summary: pd.DataFrame, backlog: BacklogOf
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """(one row per shown enqueue cell with a backlog record (TABLE_COLUMNS), cell_id → its
    curve: since_s and pending = queued + in_progress). Empty when there is none."""
    rows, curves = [], {}
    for row in enqueue_cells(summary).itertuples():
        frame = backlog(row.cell_id)
        if frame.empty:
            continue
        several = frame["pid"].nunique() > 1
        frame = _one_process(frame)
        pending = (frame["queued"] + frame["in_progress"]).to_numpy(float)
        since = frame["since_s"].to_numpy(float)
        origin = float(frame["t"].iloc[0] - since[0])  # the load's start, epoch seconds
        w_from, w_to = row.window.start - origin, row.window.end - origin
        inside = (since >= w_from) & (since < w_to)
        if inside.sum() < MIN_SAMPLES:
            inside = since >= 0
        if inside.sum() < 2:
            inside = np.ones(len(since), dtype=bool)
        completion, _ = _slope(since[inside], frame["completed"].to_numpy(float)[inside])
        growth, growth_se = _slope(since[inside], pending[inside])
        rows.append(
            {
                "cell_id": row.cell_id,
                "variant": row.variant,
                "scenario": row.scenario,
                "loop": row.loop,
                "users": row.users,
                "p50_ms": row.p50_ms,
                "rps": row.rps,
                "one_process": bool(forks(row.strategy) or several),
                "completion_rps": completion,
                "growth_per_s": growth,
                "growth_se": growth_se,
                "pending_mean": float(pending[inside].mean()) if inside.any() else math.nan,
                "pending_max": float(pending.max()),
                "rejected": int(frame["rejected"].max()),
                "window_from_s": w_from,
                "window_to_s": w_to,
            }
        )
        curves[row.cell_id] = pd.DataFrame({"since_s": since, "pending": pending})
    return pd.DataFrame(rows, columns=TABLE_COLUMNS), curves


def growth_sign(row: pd.Series) -> int:
    """+1 the backlog grows, -1 it shrinks, 0 it holds (or its trend is within the noise)."""
    g, se = row["growth_per_s"], row["growth_se"]
    if not math.isfinite(g) or abs(g) < MIN_GROWTH:
        return 0
    if math.isfinite(se) and abs(g) < GROWTH_SE * se:
        return 0
    return 1 if g > 0 else -1


def _count(value: float) -> str:
    return format_rate(abs(value)) if math.isfinite(value) else "?"


def _backlog_words(row: pd.Series) -> str:
    sign = growth_sign(row)
    if row["pending_max"] == 0:
        return "no work pending at any poll"
    if sign > 0:
        return f"its backlog grows {_count(row['growth_per_s'])}/s"
    if sign < 0:
        return f"its backlog shrinks {_count(row['growth_per_s'])}/s"
    trend = row["growth_per_s"]
    noisy = math.isfinite(trend) and abs(trend) >= MIN_GROWTH  # a trend, not a significant one
    noise = f" (trend {trend:+.1f}/s, within the noise)" if noisy else ""
    text = f"its backlog holds near {row['pending_mean']:,.0f} jobs{noise}"
    done = row["completion_rps"]
    if math.isfinite(done) and done > 0:  # Little's law: a steady backlog over its drain rate
        text += (
            f", each done about {format_ms(row['pending_mean'] / done * 1000)} ms after its answer"
        )
    return text


def _line(row: pd.Series, family: str) -> str:
    """'coroutine answers in 12 ms (p50) but its backlog grows 20/s: 500 answers/s, 480 jobs/s
    complete in the background, 0 turned away.'"""
    grows = growth_sign(row) > 0
    joint = " but " if grows else (" with " if row["pending_max"] == 0 else "; ")
    who = f"{family}{row['variant']}"
    text = f"{who} answers in {format_ms(row['p50_ms'])} ms (p50){joint}{_backlog_words(row)}"
    text += f": {_count(row['rps'])} answers/s, {_count(row['completion_rps'])} jobs/s "
    text += f"complete in the background, {int(row['rejected']):,} turned away"
    if row["one_process"]:
        text += f" ({ONE_PROCESS}'s figures: each process of this server counts its own jobs)"
    return text + "."


def read_backlog(table: pd.DataFrame) -> str:
    """One sentence per shown cell (per variant within its scenario and loop), then, when
    any cell left work pending, that answering early moved the work's cost."""
    if table.empty:
        return NO_BACKLOG
    families = table.groupby(["scenario", "loop"]).ngroups
    loops = table["loop"].nunique()
    lines = []
    for _, row in table.iterrows():
        name = f"{row['scenario']} ({row['loop']})" if loops > 1 else str(row["scenario"])
        lines.append(_line(row, f"{name}: " if families > 1 else ""))
    if (table["pending_max"] > 0).any():
        grew = any(growth_sign(r) > 0 for _, r in table.iterrows())
        lines.append(
            "Answering before the work is done moves its cost rather than removing it"
            + (
                ": a backlog that grows is work completing more slowly than it arrives."
                if grew
                else ": the work still runs, after the answer."
            )
        )
    return " ".join(lines)
