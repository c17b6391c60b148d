"""What the long-lived connection cells say (ws-echo, ws-feed, poll): per strategy, how many
connections it held against its target, what each cost in server memory, and how fast its
messages arrived; for long-poll, how many polls it held waiting at once (its wait
concurrency: sync 1, threadpool its threads, the awaiting strategies every one). Pure: it is
handed the summary and never draws."""

from __future__ import annotations

import math

import pandas as pd

from analysis import connections
from analysis.readings.words import format_count, format_kb, format_ms_unit
from catalog import workloads

# The long-lived workloads (catalog/workloads.py: those whose messages are not requests).
LIVE = tuple(name for name in workloads.WORKLOAD_NAMES if workloads.live(name))
# The delivery objective the reading ranks feeds against (interactive: a tenth of a second),
# the C10K table's too.
DELIVERY_SLO_MS = connections.DELIVERY_P99_MS
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


ENDED_WORDS = {
    connections.ENDED_SERVER: "",
    connections.ENDED_GENERATOR: " (the generator ended the search)",
    connections.ENDED_MACHINE: " (other processes on the cores ended the search)",
    connections.ENDED_TOP: " (the search's top: it served every step)",
}


def _n(n: float, why: str) -> str:
    if not math.isfinite(n):
        return "none of the steps" + ENDED_WORDS[why]
    shown = f"at least {format_count(n)}" if why == connections.ENDED_TOP else format_count(n)
    return shown + ENDED_WORDS[why]


def read_c10k(table: pd.DataFrame) -> str:
    """The C10K table in words: per strategy and loop, the most subscribers served in time by
    each criterion, and what ended each search."""
    if table.empty:
        return "No WebSocket feed ladder in this run."
    shown = table.assign(
        series=[f"{r.variant} ({r.loop})" for r in table.itertuples()]
    ).sort_values(["broadcast_n", "p99_n"], ascending=False, na_position="last")
    by_broadcast = "; ".join(
        f"{r.series} {_n(r.broadcast_n, r.broadcast_ended_by)}" for r in shown.itertuples()
    )
    by_p99 = "; ".join(f"{r.series} {_n(r.p99_n, r.p99_ended_by)}" for r in shown.itertuples())
    top = format_count(float(table["searched_to"].max()))
    return (
        f"Most subscribers with {connections.BROADCAST_SHARE:.0%} of broadcasts reaching every "
        f"one within {connections.BROADCAST_SLO_MS:.0f} ms (hashrocket's criterion): "
        f"{by_broadcast}. With delivery p99 under {connections.DELIVERY_P99_MS:.0f} ms: "
        f"{by_p99}. Searched up to {top} connections; a step counts only when the server held "
        "95 % of its connections and every smaller step passed."
    )


C10K_DISPLAY = {
    "strategy": "strategy",
    "loop": "loop",
    "broadcast_n": "most subscribers, 95 % of broadcasts ≤ 500 ms",
    "broadcast_p95_ms": "broadcast p95 there (ms)",
    "broadcast_ended_by": "ended by",
    "p99_n": "most subscribers, delivery p99 < 100 ms",
    "p99_ms": "delivery p99 there (ms)",
    "p99_ended_by": "ended by ",
    "searched_to": "searched to",
}


def c10k_display(table: pd.DataFrame) -> pd.DataFrame:
    """The table as the report and the results page show it: counts as whole numbers (a
    search that passed its top step as "≥ N"), its columns named in words."""
    out = pd.DataFrame(
        {
            "strategy": table["variant"],
            "loop": table["loop"],
            "broadcast_n": [
                _shown(n, w)
                for n, w in zip(table["broadcast_n"], table["broadcast_ended_by"], strict=True)
            ],
            "broadcast_p95_ms": table["broadcast_p95_ms"].round(0),
            "broadcast_ended_by": table["broadcast_ended_by"],
            "p99_n": [
                _shown(n, w) for n, w in zip(table["p99_n"], table["p99_ended_by"], strict=True)
            ],
            "p99_ms": table["p99_ms"].round(1),
            "p99_ended_by": table["p99_ended_by"],
            "searched_to": [format_count(float(n)) for n in table["searched_to"]],
        }
    )
    return out.rename(columns=C10K_DISPLAY)


def _shown(n: float, why: str) -> str:
    if not math.isfinite(n):
        return "—"
    return ("≥ " if why == connections.ENDED_TOP else "") + format_count(n)


C10K_NOTE = (
    "Each strategy's WebSocket feed cells as a ladder of subscribers (one cell per N). A step "
    "passes when the server held 95 % of its connections at the window's start and, by "
    "hashrocket's websocket-bench criterion, 95 % of the broadcasts sent in the window reached "
    "every subscriber within 500 ms (a broadcast: the records sharing the server's send "
    "stamp), or, by the second, the deliveries' p99 stayed under 100 ms. The ladder stops at "
    "its first failing step; 'ended by' says whether the server, the generator (at or near "
    "its limit, or its event loop stalled: the server might have done better), other "
    "processes on the cores, or nothing (the search's top, ≥ N) ended it."
)
