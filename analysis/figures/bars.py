"""Bar charts: the strategy summary (best valid req/s per strategy and workload, with its
interval and rank) and the CPU cost per request. Like plot.py, each function takes frames and
returns a Figure, or None when there is nothing to show."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from analysis.figures import kit
from analysis.readings.words import format_cost_ms
from catalog.strategies import LOOPS

MAX_WIDTH = 16.0  # inches
CHAR_WIDTH = 0.085  # inches: a tick label's character at 10 pt, generously
LIMITED_HATCH = "//"  # a generator-limited bar: its req/s is a lower bound
LOOP_HATCH = {"asyncio": "", "uvloop": "xx"}  # any other loop: dots
LOOP_ALPHA = {"asyncio": 1.0, "uvloop": 0.55}


def _families(ranking: pd.DataFrame) -> pd.DataFrame:
    loops = ranking["loop"].nunique()
    return ranking.assign(
        family=[
            kit.label(s, lo, loops)
            for s, lo in zip(ranking["scenario"], ranking["loop"], strict=True)
        ]
    )


def _rank_text(row: pd.Series, ranks: pd.Series) -> str:
    """'#1', or '#1=' when another strategy shares the rank (their intervals overlap)."""
    tied = int((ranks == row["rank"]).sum()) > 1
    return f"#{int(row['rank'])}{'=' if tied else ''}"


def _variant_bars(
    ax: plt.Axes, ranking: pd.DataFrame, variant: str, at: np.ndarray, width: float, narrow: bool
) -> tuple[list[float], bool]:
    """One strategy's bars over the families: hatched when generator-limited, its interval,
    its rank above. Returns the tops drawn (bar or interval) and whether any was limited."""
    families = list(dict.fromkeys(ranking["family"].sort_values()))
    rows = ranking[ranking["variant"] == variant].set_index("family").reindex(families)
    shown = rows["rps"].notna().to_numpy()
    rows, at = rows[shown], at[shown]
    limited = kit.limited_rows(rows)
    # The legend shows each strategy's plain colour (strategy_bars): a BarContainer's own
    # handle would take its first bar's look, hatched when that bar was generator-limited.
    drawn = ax.bar(at, rows["rps"], width, color=kit.colour(variant), label="_nolegend_")
    for bar, lim in zip(drawn, limited, strict=True):
        bar.set_hatch(LIMITED_HATCH if lim else "")
        bar.set_edgecolor("white" if lim else bar.get_facecolor())
    kit.interval_bars(ax, rows, at, "#333333")
    tops = []
    for xi, (family, row) in zip(at, rows.iterrows(), strict=True):
        top = max(row["rps"], row["rps_ci_high"] if pd.notna(row["rps_ci_high"]) else 0)
        tops.append(top)
        ax.annotate(
            _rank_text(row, ranking.loc[ranking["family"] == family, "rank"]),
            (xi, top),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=7 if narrow else 8,
            rotation=90 if narrow else 0,
        )
    return tops, bool(limited.any())


def strategy_bars(ranking: pd.DataFrame) -> Figure | None:
    if ranking.empty:
        return None
    ranking = _families(ranking)
    families = sorted(ranking["family"].unique())
    variants = kit.variants(ranking)
    width = 0.8 / max(len(variants), 1)
    # About a quarter inch per bar, within a width a report page can show.
    count = len(families) * len(variants)
    size = (min(MAX_WIDTH, max(kit.MIN_WIDTH, 0.25 * count + 2)), 5.2)
    narrow = size[0] / count < 0.45  # inches per bar: rank labels stand upright
    fig, axes = kit.figure(figsize=size)
    ax = axes[0][0]
    x = np.arange(len(families))
    tops, any_limited = [], False
    for i, variant in enumerate(variants):
        at = x + (i - (len(variants) - 1) / 2) * width
        mine, limited = _variant_bars(ax, ranking, variant, at, width, narrow)
        tops += mine
        any_limited |= limited
    # The loop on a second line; tilted only when even that is wider than a group.
    ticks = [f.replace(" (", "\n(") for f in families]
    longest = max(len(line) for t in ticks for line in t.split("\n"))
    tilt = longest * CHAR_WIDTH > size[0] / len(families)
    ax.set_xticks(x, ticks, rotation=25 if tilt else 0, ha="right" if tilt else "center")
    kit.bar_room(ax, len(families))
    ax.set_ylabel("best valid throughput (req/s)")
    kit.scale_y(ax, np.array(tops))
    if tops:  # room above the tallest bar for its rank
        ax.set_ylim(top=max(tops) * (3.0 if ax.get_yscale() == "log" else 1.15))
    extra: list[tuple[Artist, str]] = [(Patch(facecolor=kit.colour(v)), v) for v in variants]
    extra.append((Line2D([], [], color="#333333", marker="|", ms=10, ls="none"), "95% interval"))
    extra.append((Line2D([], [], ls="none"), "#n rank, #n= shared: intervals overlap"))
    if any_limited:
        hatched = Patch(facecolor="grey", hatch=LIMITED_HATCH, edgecolor="white")
        extra.append((hatched, "generator-limited: req/s is at least this"))
    kit.legend(fig, [ax], extra)
    return kit.finish(fig, "Strategy summary: best valid req/s per strategy and workload")


def _loop_look(loop: str) -> dict[str, Any]:
    return {"hatch": LOOP_HATCH.get(loop, ".."), "alpha": LOOP_ALPHA.get(loop, 0.75)}


def _cost_panel(ax: plt.Axes, group: pd.DataFrame, loops: list[str]) -> bool:
    """One scenario's bars: a group per variant, one bar per loop, each labelled with its
    value ('*' when the cell is invalid or generator-limited for throughput). True when a
    label carries '*'."""
    variants = kit.variants(group)
    width = 0.8 / len(loops)
    starred = False
    for j, loop in enumerate(loops):
        rows = group[group["loop"] == loop].set_index("variant").reindex(variants)
        at = np.arange(len(variants)) + (j - (len(loops) - 1) / 2) * width
        shown = rows["cost_ms"].notna().to_numpy()
        if not shown.any():
            continue
        colours = [kit.colour(v) for v in np.array(variants)[shown]]
        look = _loop_look(loop)
        bars = ax.bar(at[shown], rows["cost_ms"][shown], width, color=colours, **look)
        for bar, colour in zip(bars, colours, strict=True):
            bar.set_edgecolor(colour)  # the hatch takes the edge colour: the variant's own
        marks = ~rows["valid"][shown].astype(bool) | rows["limited"][shown].astype(bool)
        starred |= bool(marks.any())
        values = rows["cost_ms"][shown]
        labels = [
            format_cost_ms(v) + ("*" if m else "") for v, m in zip(values, marks, strict=True)
        ]
        ax.bar_label(bars, labels, padding=2, fontsize=7, rotation=90 if len(group) > 8 else 0)
    users = sorted(set(group["users"]))
    ticks = [
        v if len(users) == 1 else f"{v}\nu{group[group['variant'] == v]['users'].max()}"
        for v in variants
    ]
    ax.set_xticks(np.arange(len(variants)), ticks, rotation=30 if len(variants) > 3 else 0)
    kit.bar_room(ax, len(variants))
    return starred


def cost_bars(table: pd.DataFrame) -> Figure | None:
    """table: readings_cost.cost_table. One panel per scenario."""
    if table.empty:
        return None
    scenarios = sorted(table["scenario"].unique())
    loops = sorted(table["loop"].unique(), key=lambda lo: (lo not in LOOPS, lo))
    fig, axes = kit.panels(len(scenarios), height=4.2)
    starred = False
    for ax, scenario in zip(axes, scenarios, strict=True):
        group = table[table["scenario"] == scenario]
        starred |= _cost_panel(ax, group, loops)
        users = sorted(set(group["users"]))
        ax.set_title(f"{scenario}, {users[0]} users" if len(users) == 1 else scenario)
        ax.set_ylabel("server CPU ms per request")
        ax.set_ylim(0, group["cost_ms"].max() * 1.3)  # room for the value labels
        ax.yaxis.set_major_formatter(FuncFormatter(kit.number))
    extra: list[tuple[Artist, str]] = [
        (Patch(facecolor="grey", edgecolor="grey", **_loop_look(loop)), loop) for loop in loops
    ]
    if starred:
        extra.append((Line2D([], [], ls="none"), "* req/s invalid or generator-limited"))
    kit.legend(fig, axes, extra)
    return kit.finish(fig, "CPU cost per request: server CPU ms per request (lower is cheaper)")
