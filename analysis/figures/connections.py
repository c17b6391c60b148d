"""The long-lived connection charts: server memory per connection, and p99 latency (a feed's
delivery, an echo's round trip, a poll's wait), each against the connections held, one line
per strategy in its house look (hollow and dotted on uvloop), one panel per workload, log
axes. Like plot.py, each takes frames and returns a Figure, or None when there is nothing to
show."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from analysis.figures import kit
from analysis.readings.connections import DELIVERY_SLO_MS
from catalog import workloads
from catalog.strategies import LOOPS

# A strategy on any loop but the default (LOOPS[0], asyncio) keeps its colour and marker,
# hollow, on a dotted line, so the two lines of one strategy read as a pair.
OTHER_LOOP_LINESTYLE = ":"

TITLES = {
    "ws-feed": "WebSocket feed (delivery)",
    "ws-echo": "WebSocket echo (round trip)",
    "poll": "long-poll (wait to answer)",
}


def _panels(cells: pd.DataFrame, y: str, ylabel: str, title: str, slo: bool) -> Figure | None:
    shown = cells[cells[y].notna() & (cells["connections_held"] > 0)]
    if shown.empty:
        return None
    scenarios = [s for s in TITLES if s in set(shown["scenario_name"])]
    fig, axes = kit.panels(len(scenarios), height=4.0)
    for ax, scenario in zip(axes, scenarios, strict=True):
        group = shown[shown["scenario_name"] == scenario]
        for series, line in group.groupby("series", sort=True):
            variant, loop = str(line["variant"].iloc[0]), str(line["loop"].iloc[0])
            look = kit.style(variant).line()
            if loop != LOOPS[0]:  # one strategy on two loops: same colour, hollow marks
                look |= {"markerfacecolor": "white", "ls": OTHER_LOOP_LINESTYLE}
            ax.plot(line["connections_held"], line[y], **look, label=series)
        ax.set_xscale("log")
        kit.log_y(ax, group[y])
        if slo and workloads.live(scenario) == workloads.LIVE_FEED:
            ax.axhline(DELIVERY_SLO_MS, color="#888888", lw=1, ls=":", zorder=1)
        ax.set_title(TITLES[scenario])
        ax.set_xlabel("connections held (server's /health)")
        ax.set_ylabel(ylabel)
    kit.legend(fig, axes)
    plt.setp(axes, xlim=(None, None))
    return kit.finish(fig, title)


def memory_per_connection(cells: pd.DataFrame) -> Figure | None:
    return _panels(
        cells,
        "kb_per_connection",
        "server KB per connection",
        "Long-lived connections: server memory per connection",
        slo=False,
    )


def p99_vs_connections(cells: pd.DataFrame) -> Figure | None:
    return _panels(
        cells,
        "p99_ms",
        "p99 latency (ms)",
        "Long-lived connections: p99 latency vs connections held",
        slo=True,
    )
