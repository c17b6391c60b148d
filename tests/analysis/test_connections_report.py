"""The report's long-lived connection section: its readings say what each strategy held, what
each connection cost and how fast messages came; its charts draw from the same cells."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd

from analysis.figures import connections as plot_connections
from analysis.readings import connections as text
from tests.analysis.test_charts import assert_inside


def summary() -> pd.DataFrame:
    rows = []
    for variant, held, kb, p99 in (
        ("coroutine", 1000, 9.8, 41.0),
        ("coroutine", 5000, 9.5, 180.0),
        ("sync", 1000, 12.0, 90.0),
    ):
        rows.append(
            {
                "cell_id": f"{variant}-{held}",
                "variant": variant,
                "loop": "asyncio",
                "scenario_name": "ws-feed",
                "requests": 100,
                "repeat": 1,
                "connections_target": held,
                "connections_held": held,
                "kb_per_connection": kb,
                "locust_kb_per_connection": 30.0,
                "p50_ms": p99 / 4,
                "p99_ms": p99,
                "connect_p99_ms": 12.0,
            }
        )
    rows.append(
        {
            **rows[-1],
            "cell_id": "threadpool-poll",
            "variant": "threadpool",
            "scenario_name": "poll",
            "connections_target": 1000,
            "connections_held": 8,
            "connect_p99_ms": math.nan,
        }
    )
    rows.append({**rows[0], "cell_id": "hello", "scenario_name": "hello"})
    return pd.DataFrame(rows)


def test_memory_reading() -> None:
    reading = text.read_memory(summary())
    assert "coroutine ws-feed held 5,000 of 5,000 connections at 9.5 KB each" in reading
    assert "threadpool long-poll held 8 of 1,000 waiting at once." in reading
    assert "hello" not in reading


def test_latency_reading_ranks_feeds_under_the_objective() -> None:
    reading = text.read_latency(summary())
    assert "coroutine ws-feed at 5,000: p99 delivery 180 ms, connect p99 12 ms." in reading
    assert (
        "Most feed connections held with p99 delivery under 100 ms: coroutine 1,000, sync 1,000."
        in reading
    )
    assert text.read_latency(summary().iloc[0:0]) == text.NO_CELLS


def test_charts_draw_each_workload() -> None:
    cells = text.live_cells(summary())
    fig = plot_connections.p99_vs_connections(cells)
    assert fig is not None and len([a for a in fig.axes if a.get_visible()]) == 2
    assert_inside(fig, "connections-latency")
    plt.close(fig)
    assert plot_connections.memory_per_connection(cells.iloc[0:0]) is None


def test_one_strategy_on_two_loops_draws_two_distinguishable_lines() -> None:
    """coroutine on asyncio and on uvloop: the same colour (one strategy), but the uvloop line
    is dotted with hollow marks, so the two can be told apart in the chart and its legend."""
    base = summary()
    feed = base[(base["scenario_name"] == "ws-feed") & (base["variant"] == "coroutine")]
    cells = text.live_cells(pd.concat([base, feed.assign(loop="uvloop")], ignore_index=True))
    fig = plot_connections.p99_vs_connections(cells)
    try:
        lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines() if ln.get_marker()}
        plain, other = lines["coroutine (asyncio)"], lines["coroutine (uvloop)"]
        assert plain.get_color() == other.get_color()
        assert other.get_linestyle() != plain.get_linestyle()
        assert other.get_markerfacecolor() != plain.get_markerfacecolor()
    finally:
        plt.close(fig)
