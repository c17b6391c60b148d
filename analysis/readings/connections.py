"""What the long-lived connection cells say (ws-echo, ws-feed, poll): per strategy, how many
connections it held against its target, what each cost in server memory, and how fast its
messages arrived; for long-poll, how many polls it held waiting at once (its wait
concurrency: sync 1, threadpool its threads, the awaiting strategies every one). Pure: it is
handed the summary and never draws."""

from __future__ import annotations

import math

import pandas as pd

from analysis.readings.words import format_count, format_kb, format_ms_unit
from catalog import workloads

# The long-lived workloads (catalog/workloads.py: those whose messages are not requests).
LIVE = tuple(name for name in workloads.WORKLOAD_NAMES if workloads.live(name))
# The delivery objective the reading ranks feeds against (interactive: a tenth of a second).
DELIVERY_SLO_MS = 100.0
NO_CELLS = "No long-lived connection cell."
TABLE_COLUMNS = [
    *("cell_id", "variant", "loop", "scenario_name", "connections_target", "connections_held"),
    *("kb_per_connection", "locust_kb_per_connection", "p50_ms", "p99_ms", "rps"),
    *("connect_p99_ms", "server_cpu_ms_per_req", "polls_waiting_max", "valid", "threads"),
]


def live_cells(summary: pd.DataFrame) -> pd.DataFrame:
    """The measured long-lived cells, with a `series` label per strategy and loop (one line
    in the charts), sorted by connections."""
    if summary.empty or "scenario_name" not in summary or "connections_target" not in summary:
        return pd.DataFrame(columns=[*TABLE_COLUMNS, "series"])
    cells = summary[summary["scenario_name"].isin(LIVE) & (summary["requests"] > 0)].copy()
    loops = cells["loop"].nunique()
    cells["series"] = [
        f"{r.variant} ({r.loop})" if loops > 1 else str(r.variant) for r in cells.itertuples()
    ]
    return cells.sort_values(["scenario_name", "series", "connections_target"], kind="stable")


def _largest(cells: pd.DataFrame) -> pd.DataFrame:
    """Per scenario and strategy line, the cell with the most connections (its first repeat)."""
    ordered = cells.sort_values(["connections_target", "repeat"], ascending=[False, True])
    return ordered.groupby(["scenario_name", "series"], sort=False).head(1)


def read_memory(summary: pd.DataFrame) -> str:
    """Per strategy and workload at its largest target: connections held and what each cost
    in memory (server and Locust); for long-poll, the polls held waiting at once."""
    cells = live_cells(summary)
    if cells.empty:
        return NO_CELLS
    out = []
    for row in _largest(cells).sort_values(["scenario_name", "series"]).itertuples():
        held = (
            f"held {format_count(row.connections_held)} of {format_count(row.connections_target)}"
        )
        if workloads.live(row.scenario_name) == workloads.LIVE_POLL:
            out.append(f"{row.series} long-poll {held} waiting at once.")
            continue
        out.append(
            f"{row.series} {row.scenario_name} {held} connections at "
            f"{format_kb(row.kb_per_connection)} each (Locust {format_kb(row.locust_kb_per_connection)})."
        )
    return " ".join(out)


def read_latency(summary: pd.DataFrame) -> str:
    """Per strategy and workload at its largest target: p99 of deliveries, echoes or poll
    answers and of the handshakes; then the most feed connections each strategy held with
    p99 delivery under DELIVERY_SLO_MS."""
    cells = live_cells(summary)
    if cells.empty:
        return NO_CELLS
    out = []
    what = {"ws-feed": "delivery", "ws-echo": "echo", "poll": "answer"}
    for row in _largest(cells).sort_values(["scenario_name", "series"]).itertuples():
        text = f"{row.series} {row.scenario_name} at {format_count(row.connections_held)}: p99 "
        text += f"{what[row.scenario_name]} {format_ms_unit(row.p99_ms)}"
        if math.isfinite(row.connect_p99_ms):
            text += f", connect p99 {format_ms_unit(row.connect_p99_ms)}"
        out.append(text + ".")
    feed = cells["scenario_name"].map(lambda s: workloads.live(str(s)) == workloads.LIVE_FEED)
    feeds = cells[feed & (cells["p99_ms"] < DELIVERY_SLO_MS)]
    if len(feeds):
        best = feeds.groupby("series")["connections_held"].max().sort_values(ascending=False)
        parts = [f"{series} {format_count(n)}" for series, n in best.items()]
        out.append(
            f"Most feed connections held with p99 delivery under {DELIVERY_SLO_MS:.0f} ms: "
            + ", ".join(parts)
            + "."
        )
    return " ".join(out)
