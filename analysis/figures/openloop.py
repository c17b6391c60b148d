"""The open-loop chart: latency against offered rate, one line per strategy, each strategy's
model bound (its X_max) as a vertical marker, the SLO as a horizontal one: the hockey stick.
Like plot.py, it takes frames and returns a Figure, or None when there is nothing to show."""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter

from analysis.figures import kit
from analysis.readings.openloop import open_families

# Offered rates spanning this much or more get a log x axis: rates are usually stepped
# geometrically (40, 200, 800), and a linear axis squeezes the low ones together.
LOG_X_SPAN = 10.0
DASHED = (0, (4, 2))  # service latency: the same colour, dashed
BOUND_LS = ":"
SLO_LS = "-."
SLO_COLOUR = "#333333"
# Log y: room above the highest point for the bound labels, below the lowest for air.
HEADROOM, FOOTROOM = 4.0, 1.6
METRICS = ("p50_corrected_ms", "p99_corrected_ms", "p99_ms")


def _x_axis(ax: plt.Axes, rates: np.ndarray) -> tuple[float, float]:
    """Ticks at the offered rates, plain numbers; log when they span LOG_X_SPAN or more.
    Returns the x range shown."""
    lo, hi = float(rates.min()), float(rates.max())
    if hi / lo >= LOG_X_SPAN:
        ax.set_xscale("log")
        view = (lo / 1.5, hi * 1.5)
    else:
        pad = (hi - lo) * 0.08 or lo * 0.5
        view = (max(0.0, lo - pad), hi + pad)
    ax.set_xlim(*view)
    ax.xaxis.set_major_locator(FixedLocator(sorted(set(rates.tolist()))))
    ax.xaxis.set_major_formatter(FuncFormatter(kit.number))
    ax.xaxis.set_minor_locator(FixedLocator([]))
    return view


def _variant_lines(ax: plt.Axes, group: pd.DataFrame, variant: str) -> None:
    """p99 corrected thick and solid (labelled: the strategy's legend entry), p99 service
    dashed with hollow markers, p50 corrected thin: one colour and marker per strategy."""
    look = kit.style(variant)
    means = group.groupby("offered_rps")[list(METRICS)].mean().sort_index()
    common: dict[str, Any] = {"color": look.colour, "marker": look.marker}
    p99c = means["p99_corrected_ms"].dropna()
    # Above the service line: where the two are equal, the corrected one is the figure.
    ax.plot(p99c.index, p99c.values, **common, ls="-", lw=2.2, ms=6, label=variant, zorder=4)
    p99 = means["p99_ms"].dropna()
    ax.plot(p99.index, p99.values, **common, ls=DASHED, lw=1.3, ms=5, mfc="white", zorder=3)
    p50c = means["p50_corrected_ms"].dropna()
    ax.plot(p50c.index, p50c.values, **common, ls="-", lw=0.8, ms=3, alpha=0.8, zorder=2)


def _bounds(ax: plt.Axes, fam: pd.DataFrame, view: tuple[float, float]) -> None:
    """Each strategy's capacity: a dotted vertical line in its colour when it falls inside
    the x range; otherwise a label with an arrow at the edge it lies beyond (never a line
    outside the plot, never an x range stretched to hold it)."""
    edges = {"right": 0, "left": 0}
    for variant in kit.variants(fam):
        cap = fam.loc[fam["variant"] == variant, "capacity_rps"].median()
        if not (pd.notna(cap) and cap > 0):
            continue
        colour = kit.colour(variant)
        if view[0] <= cap <= view[1]:
            ax.axvline(cap, color=colour, ls=BOUND_LS, lw=1.6, zorder=1)
            ax.text(
                cap,
                0.985,
                f"bound {kit.number(cap)} ",
                transform=ax.get_xaxis_transform(),
                rotation=90,
                ha="right",
                va="top",
                fontsize=7.5,
                color=colour,
            )
            continue
        side = "right" if cap > view[1] else "left"
        text = f"{variant} bound {kit.number(cap)} →" if side == "right" else None
        text = text or f"← {variant} bound {kit.number(cap)}"
        ax.text(
            0.99 if side == "right" else 0.01,
            0.975 - 0.075 * edges[side],
            text,
            transform=ax.transAxes,
            ha=side,
            va="top",
            fontsize=8,
            color=colour,
            fontweight="bold",
        )
        edges[side] += 1


def _slo(ax: plt.Axes, slo_ms: float) -> None:
    ax.axhline(slo_ms, color=SLO_COLOUR, ls=SLO_LS, lw=1.2, zorder=1)
    # At the right edge: on the left the lines sit near the SLO when the work itself takes
    # about that long; on the right they have either stayed low or shot past it.
    ax.text(
        0.99,
        slo_ms,
        f"SLO {kit.number(slo_ms)} ms",
        transform=ax.get_yaxis_transform(),
        ha="right",
        va="bottom",
        fontsize=8,
        color=SLO_COLOUR,
    )


def _panel(ax: plt.Axes, fam: pd.DataFrame, slo_ms: float | None) -> bool:
    """One scenario's hockey sticks; True when it crossed out an invalid cell."""
    view = _x_axis(ax, fam["offered_rps"].to_numpy(float))
    invalid = False
    for variant in kit.variants(fam):
        group = fam[fam["variant"] == variant]
        _variant_lines(ax, group, variant)
        invalid |= kit.mark_invalid(ax, group, "p99_corrected_ms", x="offered_rps")
    values = kit.positive(fam[list(METRICS)].to_numpy(float).ravel())
    if slo_ms is not None:
        _slo(ax, slo_ms)
        values = np.append(values, slo_ms)
    kit.log_y(ax, values)
    if len(values):
        ax.set_ylim(values.min() / FOOTROOM, values.max() * HEADROOM)
    _bounds(ax, fam, view)
    ax.set_xlabel("offered rate (req/s)")
    ax.set_ylabel("latency (ms)")
    return invalid


def _legend_extra(slo_ms: float | None, invalid: bool) -> list[tuple[Line2D, str]]:
    grey: dict[str, Any] = {"color": "grey", "marker": "o"}
    extra = [
        (Line2D([], [], **grey, lw=2.2, ms=6), "p99 corrected (from the intended send): thick"),
        (Line2D([], [], **grey, ls=DASHED, lw=1.3, ms=5, mfc="white"), "p99 service: dashed"),
        (Line2D([], [], **grey, lw=0.8, ms=3), "p50 corrected: thin"),
        (Line2D([], [], color="grey", ls=BOUND_LS, lw=1.6), "model bound X_max (same colour)"),
    ]
    if slo_ms is not None:
        extra.append((Line2D([], [], color=SLO_COLOUR, ls=SLO_LS, lw=1.2), "SLO"))
    if invalid:
        extra.append(kit.invalid_handle())
    return extra


def openloop_latency(summary: pd.DataFrame, slo_ms: float | None = None) -> Figure | None:
    """One panel per scenario (and loop) with open-loop cells: latency against offered rate.
    None when the run has no measured open-loop cell."""
    families = open_families(summary)
    if not families:
        return None
    loops = summary["loop"].nunique()
    slo = float(slo_ms) if slo_ms is not None and math.isfinite(slo_ms) and slo_ms > 0 else None
    fig, axes = kit.panels(len(families), height=4.4)
    invalid = False
    for ax, ((scenario, loop), fam) in zip(axes, families.items(), strict=True):
        ax.set_title(kit.title(kit.label(scenario, loop, loops)))
        invalid |= _panel(ax, fam, slo)
    kit.legend(fig, axes, _legend_extra(slo, invalid))
    return kit.finish(
        fig,
        "Open loop: latency vs offered rate, against each strategy's bound",
    )
