"""DataFrames → matplotlib figures. Each function returns a Figure (or None when the run has
nothing to show for it); saving and embedding is charts.py's job. The shared look (colours,
markers, line styles, scales, layout) is in kit.py; the bar charts are in bars.py."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter

from analysis import aggregate
from analysis.figures import kit
from catalog import workloads
from catalog.strategies import concurrent_fanout


def _mean_by_users(frame: pd.DataFrame, col: str) -> pd.Series:
    return frame.groupby("users")[col].mean().sort_index()


def _users_panels(
    summary: pd.DataFrame,
) -> tuple[Figure, list[tuple[plt.Axes, pd.DataFrame]]] | None:
    """One panel per scenario family with users on a log x axis; None when nothing ran."""
    families = aggregate.families(summary)
    if not families:
        return None
    loops = summary["loop"].nunique()
    fig, axes = kit.panels(len(families))
    panels = []
    for ax, (scenario, loop) in zip(axes, families, strict=True):
        fam = aggregate.family(summary, scenario, loop)
        ax.set_title(kit.title(kit.label(scenario, loop, loops)))
        ax.set_xlabel("concurrent users")
        ax.set_xscale("log")
        kit.user_ticks(ax, fam["users"])
        panels.append((ax, fam))
    return fig, panels


CEILING_LOOK: dict[str, Any] = {"color": "#555555", "ls": (0, (1, 2)), "lw": 1.4}


def _ceiling_lines(ax: plt.Axes, fam: pd.DataFrame) -> list[float]:
    """The calibrated generator ceiling of the family's cells (req/s per Locust worker × the
    cell's workers, load.cell_row) as labelled horizontal lines; the ceilings drawn."""
    if "ceiling_rps" not in fam:
        return []
    ceilings = sorted(set(fam["ceiling_rps"].dropna().astype(float)))
    for ceiling in ceilings:
        ax.axhline(ceiling, zorder=1, **CEILING_LOOK)
        column = "ceiling_workers" if "ceiling_workers" in fam else "loadgen_workers"
        workers = fam.loc[fam["ceiling_rps"] == ceiling, column].iloc[0]
        ax.text(
            0.98,
            ceiling,
            f"generator ceiling ({int(workers)} worker{'s' if workers != 1 else ''} "
            "with a core each)",
            transform=ax.get_yaxis_transform(),
            ha="right",
            va="bottom",
            fontsize=7.5,
            color=CEILING_LOOK["color"],
        )
    return ceilings


def throughput_vs_users(summary: pd.DataFrame) -> Figure | None:
    made = _users_panels(summary)
    if made is None:
        return None
    fig, panels = made
    any_invalid = any_limited = any_ceiling = False
    for ax, fam in panels:
        for variant in kit.variants(fam):
            group = fam[fam["variant"] == variant]
            look = kit.style(variant)
            # Repeats of one load level share one interval (precision.across_repeats).
            cols = [c for c in ("rps", "rps_ci_low", "rps_ci_high") if c in group]
            means = group.groupby("users")[cols].mean().sort_index()
            ax.plot(means.index, means["rps"], **look.line(), label=variant, lw=2, ms=5)
            kit.interval_bars(ax, means, means.index, look.colour)
            bound = _mean_by_users(group, "expected_rps").dropna()
            if len(bound):
                # A pale band, not a line style: line styles tell the strategies apart.
                ax.plot(bound.index, bound.values, color=look.colour, lw=5, alpha=0.2, zorder=1)
            any_invalid |= kit.mark_invalid(ax, group, "rps")
            any_limited |= kit.mark_limited(ax, group, "rps")
        ax.set_ylabel("throughput (req/s)")
        ceilings = _ceiling_lines(ax, fam)
        any_ceiling |= bool(ceilings)
        room = [c * 1.15 for c in ceilings]  # room above each line for its label
        kit.scale_y(ax, pd.concat([fam["rps"], fam["expected_rps"], pd.Series(room, dtype=float)]))
    extra = [(Line2D([], [], color="grey", lw=6, alpha=0.35), "model bound (pale, same colour)")]
    if any_ceiling:
        extra.append((Line2D([], [], **CEILING_LOOK), "load generator's calibrated ceiling"))
    if any_limited:
        extra.append(kit.limited_handle())
    if any_invalid:
        extra.append(kit.invalid_handle())
    kit.legend(fig, [ax for ax, _ in panels], extra)
    return kit.finish(
        fig, "Throughput vs load: measured with its 95% interval, against each strategy's bound"
    )


def latency_vs_users(summary: pd.DataFrame) -> Figure | None:
    made = _users_panels(summary)
    if made is None:
        return None
    fig, panels = made
    any_invalid = False
    for ax, fam in panels:
        for variant in kit.variants(fam):
            group = fam[fam["variant"] == variant]
            look = kit.style(variant)
            p50 = _mean_by_users(group, "p50_ms")
            p99 = _mean_by_users(group, "p99_ms")
            ax.plot(p50.index, p50.values, **look.line(), label=variant, lw=2, ms=5)
            ax.plot(p99.index, p99.values, **look.line(), mfc="white", lw=1.2, ms=5, alpha=0.85)
            any_invalid |= kit.mark_invalid(ax, group, "p99_ms")
        ax.set_ylabel("latency (ms)")
        kit.scale_y(ax, fam[["p50_ms", "p99_ms"]].to_numpy(dtype=float).ravel())
    extra = [
        (Line2D([], [], marker="o", color="grey", lw=2), "p50 (filled markers)"),
        (Line2D([], [], marker="o", mfc="white", color="grey", lw=1.2), "p99 (hollow markers)"),
    ]
    if any_invalid:
        extra.append(kit.invalid_handle())
    kit.legend(fig, [ax for ax, _ in panels], extra)
    return kit.finish(fig, "Latency vs load: median (filled) and 99th percentile (hollow)")


INVALID_ALPHA = 0.35  # an invalid cell's curve is drawn faded: shown, not trusted


def latency_spectrum(
    summary: pd.DataFrame, spectra: Mapping[str, tuple[np.ndarray, np.ndarray]]
) -> Figure | None:
    """spectra: cell_id → (1 / (1 - percentile), latency ms) of the shown cells
    (curves.spectrum_curve)."""
    chosen = aggregate.spectrum_cells(summary)
    if not chosen:
        return None
    loops = summary["loop"].nunique()
    fig, axes = kit.panels(len(chosen))
    ticks = [0, 50, 90, 99, 99.9]
    any_invalid = False
    for ax, ((scenario, loop), cells) in zip(axes, chosen.items(), strict=True):
        spans: list[np.ndarray] = [np.array([])]
        for row in sorted(cells.itertuples(), key=lambda r: kit.order_key(r.variant)):
            if row.cell_id not in spectra:
                continue
            x, y = spectra[row.cell_id]
            look = kit.style(row.variant)
            # Markers at a few even steps along the curve: enough to tell the lines apart.
            ax.plot(
                x,
                y,
                **look.line(),
                label=row.variant,
                lw=2,
                ms=5,
                markevery=0.1,
                alpha=1.0 if row.valid else INVALID_ALPHA,
            )
            any_invalid |= not row.valid
            spans.append(y)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator([1 / (1 - t / 100) for t in ticks]))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{(1 - 1 / v) * 100:g}%"))
        ax.xaxis.set_minor_locator(FixedLocator([]))
        kit.scale_y(ax, np.concatenate(spans), span=5.0)
        users = int(cells["users"].iloc[0])
        ax.set_title(kit.title(f"{kit.label(scenario, loop, loops)}, {users} users"))
        ax.set_xlabel("percentile")
        ax.set_ylabel("latency (ms)")
    faded = Line2D([], [], color="grey", lw=2, alpha=INVALID_ALPHA)
    kit.legend(fig, axes, [(faded, "faded: invalid cell (not trusted)")] if any_invalid else None)
    return kit.finish(fig, "Latency by percentile (HdrHistogram style): tails to the right")


def _series_pair(
    top: plt.Axes,
    bottom: plt.Axes,
    cells: pd.DataFrame,
    series: dict[str, pd.DataFrame],
    warmups: dict[str, float],
    ends: dict[str, float],
) -> None:
    """One family's req/s (top) and p95 (bottom) per second, the warm-up shaded."""
    warm = 0.0
    for row in sorted(cells.itertuples(), key=lambda r: kit.order_key(r.variant)):
        frame = series.get(row.cell_id)
        if frame is None or frame.empty:
            continue
        warm = warmups.get(row.cell_id, 0.0)
        if row.cell_id in ends:
            frame = frame[frame["second"] + 1 <= ends[row.cell_id] + 1e-6]
        look = kit.style(row.variant)
        x = frame["second"] + 0.5
        top.plot(x, frame["rps"], **look.line(), label=row.variant, lw=1.8, ms=4)
        bottom.plot(x, frame["p95_ms"], **look.line(), lw=1.8, ms=4)
    for ax in (top, bottom):
        if warm > 0:
            ax.axvspan(0, warm, color="grey", alpha=0.15, lw=0)
    top.sharex(bottom)
    top.tick_params(labelbottom=False)
    top.set_ylabel("req/s (per second)")
    bottom.set_ylabel("p95 latency (ms)")
    top.yaxis.set_major_formatter(FuncFormatter(kit.number))
    top.set_ylim(bottom=0)
    lines = [ln.get_ydata() for ln in bottom.get_lines()]
    kit.scale_y(bottom, np.concatenate(lines) if lines else np.array([]))
    bottom.set_xlabel("seconds since load started")


def time_series(
    summary: pd.DataFrame,
    series: dict[str, pd.DataFrame],
    warmups: dict[str, float],
    ends: dict[str, float] | None = None,
) -> Figure | None:
    """series: cell_id → per-second frame (second, rps, p95_ms) counted from the cell's t0;
    ends: cell_id → the window's end in the same seconds (the partial tail is not drawn).
    Families wrap after three columns, each a req/s panel over a p95 panel."""
    chosen = aggregate.spectrum_cells(summary)
    if not chosen:
        return None
    loops = summary["loop"].nunique()
    cols = min(len(chosen), 3)
    rows = math.ceil(len(chosen) / cols)
    width = max(5.2 * cols, kit.MIN_WIDTH)
    fig, axes = kit.figure(2 * rows, cols, figsize=(width, 6.2 * rows + 0.4))
    pairs = [
        (axes[2 * (i // cols)][i % cols], axes[2 * (i // cols) + 1][i % cols])
        for i in range(rows * cols)
    ]
    for top, bottom in pairs[len(chosen) :]:
        top.set_visible(False)
        bottom.set_visible(False)
    for (top, bottom), ((scenario, loop), cells) in zip(pairs, chosen.items(), strict=False):
        _series_pair(top, bottom, cells, series, warmups, ends or {})
        users = int(cells["users"].iloc[0])
        top.set_title(kit.title(f"{kit.label(scenario, loop, loops)}, {users} users"))
    kit.legend(fig, list(axes.flat), [(Patch(color="grey", alpha=0.15), "warm-up (excluded)")])
    return kit.finish(fig, "Over time: throughput and p95 each second (shaded warm-up is excluded)")


def cpu_vs_users(summary: pd.DataFrame) -> Figure | None:
    if summary["server_cpu_pct"].isna().all():
        return None
    made = _users_panels(summary)
    if made is None:
        return None
    fig, panels = made
    for ax, fam in panels:
        for variant in kit.variants(fam):
            cpu = _mean_by_users(fam[fam["variant"] == variant], "server_cpu_pct")
            ax.plot(cpu.index, cpu.values, **kit.style(variant).line(), label=variant, lw=2, ms=5)
        ax.axhline(100, color="grey", ls="--", lw=1)
        ax.set_ylabel("server CPU (% of one core)")
        ax.set_ylim(bottom=0)
    kit.legend(
        fig, [ax for ax, _ in panels], [(Line2D([], [], ls="--", color="grey"), "one core busy")]
    )
    return kit.finish(
        fig, "Server CPU vs load: near 100% per process means CPU-bound, low means waiting"
    )


def fanout_vs_calls(summary: pd.DataFrame) -> Figure | None:
    fans = summary["scenario_name"].map(workloads.fans_out).astype(bool)
    fan = summary[fans & (summary["requests"] > 0)].copy()
    if fan.empty:
        return None
    pairs = zip(fan["scenario_name"], fan["params"], strict=True)
    fan["calls"] = [workloads.calls(name, params) for name, params in pairs]
    if fan["calls"].nunique() < 2:
        return None
    users = fan.groupby("variant")["users"].max().min()
    fan = fan[fan["users"] == users]
    fig, axes = kit.figure(figsize=(kit.MIN_WIDTH, 5.2))
    ax = axes[0][0]
    for variant in kit.variants(fan):
        mine = fan[fan["variant"] == variant]
        group = mine.groupby("calls")["p50_ms"].mean().sort_index()
        concurrent = concurrent_fanout(str(mine["strategy"].iloc[0]))
        ax.plot(
            group.index,
            group.values,
            **kit.style(variant).line(),
            lw=2,
            ms=5,
            label=f"{variant} ({'concurrent' if concurrent else 'sequential'})",
        )
    waits = fan["params"].map(lambda p: p["ms"])
    if waits.nunique() == 1:  # the floors: n x ms one after another, ms all at once
        ms = float(waits.iloc[0])
        calls = np.array(sorted(fan["calls"].unique()), dtype=float)
        ax.plot(
            calls,
            calls * ms,
            color="grey",
            ls=":",
            lw=1.5,
            label=f"floor, sequential (n x {ms:g} ms)",
        )
        ax.plot(
            calls,
            np.full_like(calls, ms),
            color="grey",
            ls="-.",
            lw=1.5,
            label=f"floor, concurrent ({ms:g} ms)",
        )
    ax.set_xlabel("upstream calls per request (n)")
    ax.set_ylabel("median latency (ms)")
    ax.set_xscale("log", base=2)
    kit.scale_y(ax, fan["p50_ms"].to_numpy(dtype=float), span=5.0)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    kit.legend(fig, [ax])
    return kit.finish(fig, f"Fan-out: latency vs number of upstream calls ({users} users)")
