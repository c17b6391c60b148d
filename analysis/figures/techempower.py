"""The TechEmpower chart: for each of TechEmpower's test types the run measured, every
strategy's best valid closed-loop req/s (with its interval), on a log scale, since plaintext and
queries N=500 differ by orders of magnitude. Takes analysis.readings.techempower.best_per_strategy's
frame; returns a Figure, or None when there is nothing to show. A bar whose req/s the
generator set (generator_limited) carries a caret: the server may do more."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from analysis.figures import kit
from analysis.figures.bars import LOOP_ALPHA, LOOP_HATCH, MAX_WIDTH

# A generator-limited bar's caret (kit.LIMITED_MARKER) stands this factor above its interval
# (log scale).
LIMITED_LIFT = 1.25


def te_bars(best: pd.DataFrame, order: list[str]) -> Figure | None:
    """`order`: the type labels in the order to draw them (TechEmpower's)."""
    if best.empty:
        return None
    types = [t for t in order if t in set(best["te_type"])]
    strategies = sorted(
        set(zip(best["variant"], best["loop"], best["strategy"], strict=True)),
        key=lambda s: (kit.order_key(s[0]), s[1]),
    )
    width = 0.8 / len(strategies)
    size = (min(MAX_WIDTH, max(kit.MIN_WIDTH, 0.22 * len(types) * len(strategies) + 2)), 5.2)
    fig, axes = kit.figure(figsize=size)
    ax = axes[0][0]
    x = np.arange(len(types))
    tops: list[float] = []
    any_limited = False
    for i, (variant, loop, strategy) in enumerate(strategies):
        rows = best[best["strategy"] == strategy].set_index("te_type").reindex(types)
        shown = rows["rps"].notna().to_numpy()
        at = (x + (i - (len(strategies) - 1) / 2) * width)[shown]
        bars = ax.bar(
            at, rows["rps"][shown], width, color=kit.colour(variant), label=strategy,
            hatch=LOOP_HATCH.get(loop, ".."), alpha=LOOP_ALPHA.get(loop, 0.75),
        )  # fmt: skip
        for bar in bars:
            bar.set_edgecolor(kit.colour(variant))
        kit.interval_bars(ax, rows[shown], at, "#333333")
        top = rows["rps_ci_high"][shown].fillna(rows["rps"][shown]).to_numpy(dtype=float)
        tops += list(top)
        # The generator, not the server, set these req/s: the bar is a lower bound.
        limited = kit.limited_rows(rows[shown])
        if limited.any():
            caret = {"marker": kit.LIMITED_MARKER, "color": kit.LIMITED_COLOUR, "ls": "none"}
            ax.plot(at[limited], top[limited] * LIMITED_LIFT, ms=7, **caret)
            any_limited = True
    ax.set_xticks(
        x, types, rotation=20 if len(types) > 5 else 0, ha="right" if len(types) > 5 else "center"
    )
    kit.bar_room(ax, len(types))
    ax.set_ylabel("best valid throughput (req/s)")
    kit.log_y(ax, tops)
    if tops:
        ax.set_ylim(bottom=max(min(tops) / 3, 0.1), top=max(tops) * 2)
    extra = [(Line2D([], [], color="#333333", marker="|", ms=10, ls="none"), "95% interval")]
    if any_limited:
        extra.append(kit.limited_handle())
    kit.legend(fig, [ax], extra)
    return kit.finish(fig, "TechEmpower test types: best valid req/s per strategy")
