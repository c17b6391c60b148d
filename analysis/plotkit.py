"""The look every chart shares: one colour and one place in the legend per strategy, the
matplotlib style, axis scaling and the panel/legend layout. plot.py draws with these."""

from __future__ import annotations

import math
import zlib

import matplotlib

matplotlib.use("Agg")  # files only: no display, no GUI toolkit

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

from servers.variants import TARGET, VARIANT_NAMES

# Built-in strategies in their documented order, then an already running target.
VARIANT_ORDER = [*VARIANT_NAMES, TARGET]
# Colour-blind-safe (Okabe-Ito), one fixed colour per strategy in every chart.
COLOURS = {
    "sync": "#D55E00",
    "coroutine": "#0072B2",
    "threadpool": "#E69F00",
    "fanout": "#009E73",
    "multiprocess": "#CC79A7",
    "gencoroutine": "#56B4E9",
    TARGET: "#000000",
}
# For a name we know nothing of (a user's own app): chosen by a hash of the name, so the same
# app keeps its colour in every chart and every run.
OTHER_COLOURS = ("#999999", "#F0E442", "#882255", "#44AA99", "#332288", "#AA4499")
INVALID_COLOUR = "#B00020"
STYLE = {
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "figure.titlesize": 13,
    "figure.titleweight": "bold",
    "legend.frameon": False,
}


def colour(variant: str) -> str:
    known = COLOURS.get(variant)
    if known is not None:
        return known
    return OTHER_COLOURS[zlib.crc32(variant.encode()) % len(OTHER_COLOURS)]


def order_key(variant: str) -> tuple[int, str]:
    """Known strategies in VARIANT_ORDER, any other name after them, alphabetically."""
    try:
        return (VARIANT_ORDER.index(variant), "")
    except ValueError:
        return (len(VARIANT_ORDER), variant)


def variants(frame: pd.DataFrame) -> list[str]:
    """The variants present in frame, in legend order."""
    return sorted(set(frame["variant"]), key=order_key)


def number(v: float, _: object = None) -> str:
    return f"{v:,.0f}" if abs(v) >= 10 else f"{v:g}"


def scale_y(ax: plt.Axes, values: np.ndarray | pd.Series, *, span: float = 20.0) -> None:
    """Log scale only where values span more than `span`x; plain numbers on the axis always
    (no 2x10^1 labels)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if len(v) and v.max() / v.min() > span:
        ax.set_yscale("log")
        ax.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        ax.yaxis.set_minor_formatter(
            FuncFormatter(number) if v.max() / v.min() < 200 else NullFormatter()
        )
    else:
        ax.set_ylim(bottom=0, top=(v.max() * 1.1) if len(v) else None)
    ax.yaxis.set_major_formatter(FuncFormatter(number))


def user_ticks(ax: plt.Axes, users: pd.Series) -> None:
    ticks = sorted(set(int(u) for u in users))
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(FixedLocator([]))


def panels(n: int, width: float = 5.2, height: float = 3.8) -> tuple[Figure, list]:
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            rows, cols, figsize=(width * cols, height * rows + 0.8), squeeze=False
        )
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def label(scenario: str, loop: str, loops: int) -> str:
    return f"{scenario} ({loop})" if loops > 1 else scenario


def legend(fig: Figure, axes: list, extra: list | None = None) -> None:
    """One legend under all panels, each label once."""
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    for h, lab in extra or []:
        handles.append(h)
        labels.append(lab)
    fig.legend(
        handles, labels, loc="lower center", ncol=min(len(labels), 7), bbox_to_anchor=(0.5, 0)
    )


def finish(fig: Figure, title: str) -> Figure:
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.07, 1, 0.96))
    return fig


def mark_invalid(ax: plt.Axes, group: pd.DataFrame, col: str) -> bool:
    """Cross out the invalid cells' points; True when there were any."""
    bad = group[~group["valid"] & group[col].notna()]
    if bad.empty:
        return False
    ax.scatter(
        bad["users"], bad[col], marker="x", s=70, color=INVALID_COLOUR, zorder=5, linewidths=2
    )
    return True


def invalid_handle() -> tuple[Line2D, str]:
    return (
        Line2D([], [], marker="x", color=INVALID_COLOUR, linestyle="none", markersize=8, mew=2),
        "invalid cell (not trusted)",
    )
