"""Long-lived connections in the summary: each cell's connections.json (record/connections.py)
joined to its row, and the columns derived from it (schema 5): connections held against the
target, memory per connection (server and load generator), delivery latency of feeds. A
cell that held fewer than 95 % of its target is marked, and stays valid: not holding them
may be the finding, as a target rate not reached is."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from catalog import workloads
from record.connections import HELD_SHARE_MIN, ConnectionFigures
from record.layout import RunLayout

FIGURE_COLUMNS = (
    "connections_target",
    "connections_held",
    "connections_held_end",
    "connect_failures",
    "connect_p99_ms",
    "server_rss_before_mb",
    "server_rss_mb",
    "locust_rss_before_mb",
    "locust_rss_mb",
    "polls_waiting_max",
)
KB = 1024.0


def figure_row(figures: ConnectionFigures | None) -> dict[str, float]:
    if figures is None:
        return dict.fromkeys(FIGURE_COLUMNS, math.nan)
    return {
        "connections_target": float(figures.target),
        "connections_held": figures.held_start,
        "connections_held_end": figures.held_end,
        "connect_failures": float(figures.connect_failures),
        "connect_p99_ms": figures.connect_p99_ms,
        "server_rss_before_mb": figures.server_rss_before_mb,
        "server_rss_mb": figures.server_rss_mb,
        "locust_rss_before_mb": figures.locust_rss_before_mb,
        "locust_rss_mb": figures.locust_rss_mb,
        "polls_waiting_max": figures.polls_waiting_max,
    }


def held_note(target: float, held: float) -> str:
    """The mark of a cell that held too few of its connections ("" when it held enough, or
    when the count is unknown)."""
    if not (math.isfinite(target) and math.isfinite(held)) or held >= HELD_SHARE_MIN * target:
        return ""
    return f"held {held:.0f} of {target:.0f} connections"


def join_figures(cells: pd.DataFrame, root: Path) -> pd.DataFrame:
    """Cell rows (analysis/load.py) with their connection figures; a held-too-few mark joins
    the cell's notes."""
    if cells.empty:
        return cells
    rows = [
        figure_row(ConnectionFigures.read(RunLayout(root).cell(cid).root))
        for cid in cells["cell_id"]
    ]
    out = pd.concat([cells.reset_index(drop=True), pd.DataFrame(rows)], axis=1)
    notes = []
    for row in out.itertuples(index=False):
        note = held_note(row.connections_target, row.connections_held)
        before = str(getattr(row, "cell_notes", "") or "")
        notes.append("; ".join(n for n in (before, note) if n))
    out["cell_notes"] = notes
    return out


def add_derived(summary: pd.DataFrame) -> pd.DataFrame:
    """kb_per_connection (server and Locust: resident memory with the connections held minus
    before the first, per connection held; for poll per connection open) and a feed's delivery percentiles (its records'
    latency is the delivery latency: received minus the server's send time)."""
    out = summary.copy()
    for col in FIGURE_COLUMNS:
        if col not in out:
            out[col] = math.nan
    held = out["connections_held"].where(out["connections_held"] > 0)
    target = out["connections_target"].where(out["connections_target"] > 0)
    # For poll, connections_held counts the polls waiting at once, while every user keeps its
    # HTTP connection open (waiting, queued or between polls): per target connection.
    poll = (
        out.get("scenario_name", pd.Series("", index=out.index)).map(_live) == workloads.LIVE_POLL
    )
    per = held.where(~poll, target)
    out["kb_per_connection"] = (out["server_rss_mb"] - out["server_rss_before_mb"]) * KB / per
    # Each Locust user holds its own socket whatever the server does: per target connection.
    out["locust_kb_per_connection"] = (
        (out["locust_rss_mb"] - out["locust_rss_before_mb"]) * KB / target
    )
    feed = (
        out.get("scenario_name", pd.Series("", index=out.index)).map(_live) == workloads.LIVE_FEED
    )
    for mine, theirs in (("delivery_p50_ms", "p50_ms"), ("delivery_p99_ms", "p99_ms")):
        source = out[theirs] if theirs in out else pd.Series(math.nan, index=out.index)
        out[mine] = source.where(feed)
    return out


def _live(scenario: object) -> str:
    """What a long-lived workload's messages are (catalog/workloads.py); "" for the rest."""
    return workloads.live(str(scenario))
