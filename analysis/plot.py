"""DataFrames → matplotlib figures. Each function returns a Figure (or None when the run has
nothing to show for it); saving and embedding is charts.py's job. The shared look (colours,
scales, layout) is in plotkit.py."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter

from analysis import aggregate
from analysis import plotkit as kit
from servers.variants import concurrent_fanout


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
        ax.set_title(kit.label(scenario, loop, loops))
        ax.set_xlabel("concurrent users")
        ax.set_xscale("log")
        kit.user_ticks(ax, fam["users"])
        panels.append((ax, fam))
    return fig, panels


def throughput_vs_users(summary: pd.DataFrame) -> Figure | None:
    made = _users_panels(summary)
    if made is None:
        return None
    fig, panels = made
    any_invalid = False
    for ax, fam in panels:
        for variant in kit.variants(fam):
            group = fam[fam["variant"] == variant]
            rps = _mean_by_users(group, "rps")
            colour = kit.colour(variant)
            ax.plot(rps.index, rps.values, marker="o", color=colour, label=variant, lw=2)
            bound = _mean_by_users(group, "expected_rps").dropna()
            if len(bound):
                ax.plot(bound.index, bound.values, ls="--", color=colour, lw=1.2, alpha=0.8)
            any_invalid |= kit.mark_invalid(ax, group, "rps")
        ax.set_ylabel("throughput (req/s)")
        kit.scale_y(ax, pd.concat([fam["rps"], fam["expected_rps"]]))
    extra = [(Line2D([], [], ls="--", color="grey"), "model bound (same colour)")]
    if any_invalid:
        extra.append(kit.invalid_handle())
    kit.legend(fig, [ax for ax, _ in panels], extra)
    return kit.finish(
        fig, "Throughput vs load: measured (solid) against each strategy's bound (dashed)"
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
            colour = kit.colour(variant)
            p50 = _mean_by_users(group, "p50_ms")
            p99 = _mean_by_users(group, "p99_ms")
            ax.plot(p50.index, p50.values, marker="o", color=colour, label=variant, lw=2)
            ax.plot(p99.index, p99.values, marker="^", color=colour, ls=":", lw=1.5)
            any_invalid |= kit.mark_invalid(ax, group, "p99_ms")
        ax.set_ylabel("latency (ms)")
        kit.scale_y(ax, fam[["p50_ms", "p99_ms"]].to_numpy(dtype=float).ravel())
    extra = [
        (Line2D([], [], marker="o", color="grey"), "p50"),
        (Line2D([], [], marker="^", ls=":", color="grey"), "p99"),
    ]
    if any_invalid:
        extra.append(kit.invalid_handle())
    kit.legend(fig, [ax for ax, _ in panels], extra)
    return kit.finish(fig, "Latency vs load: median (solid) and 99th percentile (dotted)")


SPECTRUM_MAX_PCT = 99.9
SPECTRUM_POINTS = 1500  # per line: enough for a smooth curve, small enough for a light SVG


def latency_spectrum(summary: pd.DataFrame, requests: pd.DataFrame) -> Figure | None:
    chosen = aggregate.spectrum_cells(summary)
    if not chosen:
        return None
    loops = summary["loop"].nunique()
    fig, axes = kit.panels(len(chosen))
    by_cell = requests[requests["ok"]].groupby("cell_id", observed=True)["latency_ms"]
    ticks = [0, 50, 90, 99, 99.9]
    for ax, ((scenario, loop), cells) in zip(axes, chosen.items(), strict=True):
        spans: list[np.ndarray] = [np.array([])]
        for row in sorted(cells.itertuples(), key=lambda r: kit.order_key(r.variant)):
            if row.cell_id not in by_cell.groups:
                continue
            lat = np.sort(by_cell.get_group(row.cell_id).to_numpy())
            n = len(lat)
            pct = np.arange(1, n + 1) / n * 100
            keep = pct <= SPECTRUM_MAX_PCT
            if keep.sum() < 2:
                continue
            x = 1 / (1 - pct[keep] / 100)
            y = lat[keep]
            if len(x) > SPECTRUM_POINTS:  # log-spaced samples keep the tail, drop the bulk
                idx = np.unique(np.geomspace(1, len(x), SPECTRUM_POINTS).astype(int) - 1)
                x, y = x[idx], y[idx]
            style = "-" if row.valid else ":"
            ax.plot(x, y, color=kit.colour(row.variant), label=row.variant, lw=2, ls=style)
            spans.append(y)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator([1 / (1 - t / 100) for t in ticks]))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{(1 - 1 / v) * 100:g}%"))
        ax.xaxis.set_minor_locator(FixedLocator([]))
        kit.scale_y(ax, np.concatenate(spans), span=5.0)
        users = int(cells["users"].iloc[0])
        ax.set_title(f"{kit.label(scenario, loop, loops)}, {users} users")
        ax.set_xlabel("percentile")
        ax.set_ylabel("latency (ms)")
    kit.legend(fig, axes)
    return kit.finish(fig, "Latency by percentile (HdrHistogram style): tails to the right")


def time_series(
    summary: pd.DataFrame,
    series: dict[str, pd.DataFrame],
    warmups: dict[str, float],
    ends: dict[str, float] | None = None,
) -> Figure | None:
    """series: cell_id → per-second frame (second, rps, p95_ms) counted from the cell's t0;
    ends: cell_id → the window's end in the same seconds (the partial tail is not drawn)."""
    ends = ends or {}
    chosen = aggregate.spectrum_cells(summary)
    if not chosen:
        return None
    loops = summary["loop"].nunique()
    with plt.rc_context(kit.STYLE):
        fig, axes = plt.subplots(
            2, len(chosen), figsize=(5.2 * len(chosen), 6.6), squeeze=False, sharex="col"
        )
    for col, ((scenario, loop), cells) in enumerate(chosen.items()):
        top, bottom = axes[0][col], axes[1][col]
        warm = 0.0
        for row in sorted(cells.itertuples(), key=lambda r: kit.order_key(r.variant)):
            frame = series.get(row.cell_id)
            if frame is None or frame.empty:
                continue
            warm = warmups.get(row.cell_id, 0.0)
            if row.cell_id in ends:
                frame = frame[frame["second"] + 1 <= ends[row.cell_id] + 1e-6]
            colour = kit.colour(row.variant)
            top.plot(
                frame["second"] + 0.5,
                frame["rps"],
                color=colour,
                label=row.variant,
                lw=2,
                marker=".",
            )
            bottom.plot(frame["second"] + 0.5, frame["p95_ms"], color=colour, lw=2, marker=".")
        for ax in (top, bottom):
            if warm > 0:
                ax.axvspan(0, warm, color="grey", alpha=0.15, lw=0)
        users = int(cells["users"].iloc[0])
        top.set_title(f"{kit.label(scenario, loop, loops)}, {users} users")
        top.set_ylabel("req/s (per second)")
        bottom.set_ylabel("p95 latency (ms)")
        top.yaxis.set_major_formatter(FuncFormatter(kit.number))
        top.set_ylim(bottom=0)
        lines = [ln.get_ydata() for ln in bottom.get_lines()]
        kit.scale_y(bottom, np.concatenate(lines) if lines else np.array([]))
        bottom.set_xlabel("seconds since load started")
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
            ax.plot(
                cpu.index, cpu.values, marker="o", color=kit.colour(variant), label=variant, lw=2
            )
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
    fan = summary[(summary["scenario_name"] == "fanout") & (summary["requests"] > 0)].copy()
    if fan.empty:
        return None
    fan["calls"] = fan["params"].map(lambda p: p["n"])
    if fan["calls"].nunique() < 2:
        return None
    users = fan.groupby("variant")["users"].max().min()
    fan = fan[fan["users"] == users]
    with plt.rc_context(kit.STYLE):
        fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for variant in kit.variants(fan):
        group = fan[fan["variant"] == variant].groupby("calls")["p50_ms"].mean().sort_index()
        concurrent = concurrent_fanout(variant)
        ax.plot(
            group.index,
            group.values,
            marker="o",
            lw=2,
            color=kit.colour(variant),
            ls="-" if concurrent else "--",
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
            lw=1.2,
            label=f"floor, sequential (n x {ms:g} ms)",
        )
        ax.plot(
            calls,
            np.full_like(calls, ms),
            color="grey",
            ls="-.",
            lw=1.2,
            label=f"floor, concurrent ({ms:g} ms)",
        )
    ax.set_xlabel("upstream calls per request (n)")
    ax.set_ylabel("median latency (ms)")
    ax.set_xscale("log", base=2)
    kit.scale_y(ax, fan["p50_ms"].to_numpy(dtype=float), span=5.0)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_title(f"Fan-out: latency vs number of upstream calls ({users} users)")
    ax.legend()
    fig.tight_layout()
    return fig


def strategy_bars(ranking: pd.DataFrame) -> Figure | None:
    if ranking.empty:
        return None
    loops = ranking["loop"].nunique()
    ranking = ranking.assign(
        family=[
            kit.label(s, lo, loops)
            for s, lo in zip(ranking["scenario"], ranking["loop"], strict=True)
        ]
    )
    families = sorted(ranking["family"].unique())
    variants = kit.variants(ranking)
    width = 0.8 / max(len(variants), 1)
    with plt.rc_context(kit.STYLE):
        fig, ax = plt.subplots(
            figsize=(max(7.0, 1.9 * len(families) * max(1, len(variants) / 3)), 4.8)
        )
    x = np.arange(len(families))
    for i, variant in enumerate(variants):
        values = [
            ranking[(ranking["family"] == f) & (ranking["variant"] == variant)]["rps"].max()
            for f in families
        ]
        ax.bar(
            x + (i - (len(variants) - 1) / 2) * width,
            values,
            width,
            color=kit.colour(variant),
            label=variant,
        )
    ax.set_xticks(x, families)
    ax.set_ylabel("best valid throughput (req/s)")
    ax.set_yscale("log")
    ax.set_title("Strategy summary: best valid req/s per strategy and workload")
    ax.legend(ncol=min(len(variants), 6), loc="upper center", bbox_to_anchor=(0.5, -0.12))
    fig.tight_layout()
    return fig
