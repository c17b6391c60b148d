"""The look every chart shares: one colour, marker and line style and one place in the legend
per strategy, the matplotlib style, axis scaling and the panel/legend layout. plot.py and the
plot_*.py modules draw with these.

Layout: every figure uses constrained layout and one figure-level legend placed outside the
axes ("outside lower center"), so the layout engine reserves its room; `legend` then lowers the
number of columns until the legend fits the figure's width, and `finish` wraps a title that is
wider than the figure. Nothing depends on bbox_inches="tight", so PNG and SVG show the same."""

from __future__ import annotations

import math
import re
import textwrap
import zlib
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display, no GUI toolkit

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

from catalog.strategies import TARGET, VARIANT_NAMES

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
    "processpool": "#7F4F24",  # brown: outside Okabe-Ito's seven, unlike any of them
    TARGET: "#000000",
}
# For a name we know nothing of (a user's own app): chosen by a hash of the name, so the same
# app keeps its colour in every chart and every run.
OTHER_COLOURS = ("#999999", "#F0E442", "#882255", "#44AA99", "#332288", "#AA4499")
# Markers and dash patterns by a strategy's position in VARIANT_ORDER: equal values draw one
# line exactly over another (coroutine and fanout on /sleep), and a second channel beside the
# colour keeps both visible and tells them apart in grey print. "^" and "x" are left out: they
# mark generator-limited and invalid points.
MARKERS = ("o", "s", "D", "v", "P", "h", "*", "<", ">", "p")
LINESTYLES: tuple[Any, ...] = ("-", (0, (5, 2)), (0, (6, 2, 1.5, 2)), (0, (1.5, 1.5)))
INVALID_COLOUR = "#B00020"
MIN_WIDTH = 7.5  # inches: a figure of one panel still has room for its legend and title
LIMITED_MARKER: Any = 10  # matplotlib's CARETUPBASE: a caret standing on the point, "at least"
LIMITED_COLOUR = "#222222"
STYLE: dict[Any, Any] = {  # rcParams keys
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


@dataclass(frozen=True)
class Style:
    colour: str
    marker: str
    linestyle: Any  # a matplotlib line style: a name or an (offset, dashes) tuple

    def line(self) -> dict[str, Any]:
        """Keyword arguments of ax.plot for this strategy's line."""
        return {"color": self.colour, "marker": self.marker, "ls": self.linestyle}


def style(variant: str) -> Style:
    """A strategy's colour, marker and line style. A name we know nothing of (a user's own app)
    takes its place from a hash of the name, so it keeps its look in every chart and run."""
    if variant in VARIANT_ORDER:
        pos = VARIANT_ORDER.index(variant)
        return Style(
            COLOURS[variant], MARKERS[pos % len(MARKERS)], LINESTYLES[pos % len(LINESTYLES)]
        )
    h = zlib.crc32(variant.encode())
    return Style(
        OTHER_COLOURS[h % len(OTHER_COLOURS)],
        MARKERS[(h // 7) % len(MARKERS)],
        LINESTYLES[(h // 71) % len(LINESTYLES)],
    )


def colour(variant: str) -> str:
    return style(variant).colour


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


def positive(values: Any) -> np.ndarray:
    """The finite, positive values (what a log axis can show)."""
    v = np.asarray(values, dtype=float)
    return v[np.isfinite(v) & (v > 0)]


def log_y(ax: plt.Axes, values: Any) -> None:
    """A log y axis with plain numbers; the 2 and 5 between decades are labelled too when
    the values span less than 200x (else the labels would crowd)."""
    v = positive(values)
    ax.set_yscale("log")
    ax.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
    few = len(v) and v.max() / v.min() < 200
    ax.yaxis.set_minor_formatter(FuncFormatter(number) if few else NullFormatter())
    ax.yaxis.set_major_formatter(FuncFormatter(number))


def scale_y(ax: plt.Axes, values: np.ndarray | pd.Series, *, span: float = 20.0) -> None:
    """Log scale only where values span more than `span`x; plain numbers on the axis always
    (no 2x10^1 labels)."""
    v = positive(values)
    if len(v) and v.max() / v.min() > span:
        log_y(ax, v)
    else:
        ax.set_ylim(bottom=0, top=(v.max() * 1.1) if len(v) else None)
        ax.yaxis.set_major_formatter(FuncFormatter(number))


def user_ticks(ax: plt.Axes, users: pd.Series) -> None:
    ticks = sorted(set(int(u) for u in users))
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(FixedLocator([]))


def figure(nrows: int = 1, ncols: int = 1, **kwargs: Any) -> tuple[Figure, np.ndarray]:
    """plt.subplots in the shared style with constrained layout (see the module's note)."""
    with plt.rc_context(STYLE):
        return plt.subplots(nrows, ncols, squeeze=False, layout="constrained", **kwargs)


def panels(n: int, width: float = 5.2, height: float = 3.8) -> tuple[Figure, list]:
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    # Never narrower than MIN_WIDTH: one panel would otherwise leave no room for the legend.
    size = (max(width * cols, MIN_WIDTH), height * rows + 0.8)
    fig, axes = figure(rows, cols, figsize=size)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def label(scenario: str, loop: str, loops: int) -> str:
    return f"{scenario} ({loop})" if loops > 1 else scenario


# A panel is about 5 inches wide: a title longer than this ran into its neighbours' (a
# long-lived scenario's label carries five parameters), so it is broken between them.
TITLE_CHARS = 40


def title(text: str) -> str:
    """A panel's title on as many lines as it needs, broken after a label's dashes."""
    lines = [""]
    for part in re.split(r"(?<=-)", text):
        if lines[-1] and len(lines[-1]) + len(part) > TITLE_CHARS:
            lines.append("")
        lines[-1] += part
    return "\n".join(lines)


def legend(fig: Figure, axes: list, extra: list | None = None) -> None:
    """One legend under all panels, each label once, in as many columns as fit the width."""
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    for h, lab in extra or []:
        handles.append(h)
        labels.append(lab)
    if not labels:
        return
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]  # Agg canvas
    room = fig.bbox.width * 0.98
    for ncol in range(min(len(labels), 7), 0, -1):
        # matplotlib fills a legend column by column; this order reads along the rows.
        order = [i for c in range(ncol) for i in range(c, len(labels), ncol)]
        with plt.rc_context(STYLE):
            made = fig.legend(
                [handles[i] for i in order],
                [labels[i] for i in order],
                loc="outside lower center",
                ncol=ncol,
            )
        if ncol == 1 or made.get_window_extent(renderer).width <= room:
            return
        made.remove()


def fit_text(fig: Figure, text: str, fontsize: float, share: float = 0.96) -> str:
    """text wrapped into lines no wider than `share` of the figure (measured, not guessed)."""
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]  # Agg canvas
    probe = fig.text(0, 0, text, fontsize=fontsize, fontweight="bold")
    width = probe.get_window_extent(renderer).width
    probe.remove()
    room = fig.bbox.width * share
    if width <= room:
        return text
    chars = max(10, int(len(text) * room / width))
    return "\n".join(textwrap.wrap(text, chars))


def finish(fig: Figure, title: str) -> Figure:
    size = float(STYLE["figure.titlesize"])
    fig.suptitle(fit_text(fig, title, size), fontsize=size, fontweight="bold")
    return fig


def bar_room(ax: plt.Axes, groups: int) -> None:
    """Keep at least three groups' width on the x axis: one group would fill the panel with
    two slabs, and the bars' values read the same at any width."""
    pad = max(0.0, (3 - groups) / 2)
    ax.set_xlim(-0.5 - pad, groups - 0.5 + pad)
    ax.grid(axis="x", visible=False)


def mark_invalid(ax: plt.Axes, group: pd.DataFrame, col: str, x: str = "users") -> bool:
    """Cross out the invalid cells' points (at group[x], group[col]); True when there were
    any."""
    bad = group[~group["valid"].astype(bool) & group[col].notna()]
    if bad.empty:
        return False
    ax.scatter(bad[x], bad[col], marker="x", s=70, color=INVALID_COLOUR, zorder=5, linewidths=2)
    return True


def invalid_handle() -> tuple[Line2D, str]:
    return (
        Line2D([], [], marker="x", color=INVALID_COLOUR, linestyle="none", markersize=8, mew=2),
        "invalid cell (not trusted)",
    )


def limited_rows(frame: pd.DataFrame) -> np.ndarray:
    """Which rows are generator-limited (their req/s is a lower bound); none without the
    column."""
    if "generator_limited" not in frame:
        return np.zeros(len(frame), dtype=bool)
    return frame["generator_limited"].fillna(False).astype(bool).to_numpy()


def mark_limited(ax: plt.Axes, group: pd.DataFrame, col: str) -> bool:
    """A caret standing on each generator-limited point (its req/s is a lower bound); True
    when there were any."""
    limited = group[limited_rows(group) & group[col].notna().to_numpy()]
    if limited.empty:
        return False
    ax.scatter(
        limited["users"], limited[col], marker=LIMITED_MARKER, s=110, color=LIMITED_COLOUR, zorder=6
    )
    return True


def limited_handle() -> tuple[Line2D, str]:
    return (
        Line2D([], [], marker=LIMITED_MARKER, color=LIMITED_COLOUR, linestyle="none", markersize=9),
        "generator-limited: req/s is at least this",
    )


def interval_bars(ax: plt.Axes, frame: pd.DataFrame, x: Any, colour: str) -> None:
    """Error bars from frame's rps_ci_low/rps_ci_high around frame's rps at x; points whose
    interval is unknown get none."""
    if "rps_ci_low" not in frame:
        return
    x = np.asarray(x, dtype=float)
    rps = frame["rps"].to_numpy(float)
    low = frame["rps_ci_low"].to_numpy(float)
    high = frame["rps_ci_high"].to_numpy(float)
    known = np.isfinite(low) & np.isfinite(high) & np.isfinite(rps)
    if not known.any():
        return
    below = np.clip(rps - low, 0, None)[known]
    above = np.clip(high - rps, 0, None)[known]
    ax.errorbar(
        x[known],
        rps[known],
        yerr=[below, above],
        fmt="none",
        ecolor=colour,
        elinewidth=1.2,
        capsize=3,
        zorder=4,
    )
