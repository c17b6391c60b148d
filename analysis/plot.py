"""DataFrames → matplotlib figures. Each function returns a Figure (or None when the run has
nothing to show for it); saving and embedding is report.py's job."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")  # files only: no display, no GUI toolkit

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

VARIANT_ORDER = [
    "sync",
    "coroutine",
    "threadpool",
    "fanout",
    "multiprocess",
    "gencoroutine",
    "target",
]
# Colour-blind-safe (Okabe-Ito), one fixed colour per strategy in every chart.
COLOURS = {
    "sync": "#D55E00",
    "coroutine": "#0072B2",
    "threadpool": "#E69F00",
    "fanout": "#009E73",
    "multiprocess": "#CC79A7",
    "gencoroutine": "#56B4E9",
    "target": "#000000",
}
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


def _number(v: float, _: object = None) -> str:
    return f"{v:,.0f}" if abs(v) >= 10 else f"{v:g}"


def _scale_y(ax: plt.Axes, values: np.ndarray | pd.Series, *, span: float = 20.0) -> None:
    """Log scale only where values span more than `span`x; plain numbers on the axis always
    (no 2x10^1 labels)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if len(v) and v.max() / v.min() > span:
        ax.set_yscale("log")
        ax.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        ax.yaxis.set_minor_formatter(
            FuncFormatter(_number) if v.max() / v.min() < 200 else NullFormatter()
        )
    else:
        ax.set_ylim(bottom=0, top=(v.max() * 1.1) if len(v) else None)
    ax.yaxis.set_major_formatter(FuncFormatter(_number))


def _variants(frame: pd.DataFrame) -> list[str]:
    present = set(frame["variant"])
    return [v for v in VARIANT_ORDER if v in present]


def _panels(n: int, width: float = 5.2, height: float = 3.8) -> tuple[Figure, list]:
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


def _label(scenario: str, loop: str, loops: int) -> str:
    return f"{scenario} ({loop})" if loops > 1 else scenario


def _families(summary: pd.DataFrame) -> list[tuple[str, str]]:
    measured = summary[summary["requests"] > 0]
    return sorted({(r.scenario, r.loop) for r in measured.itertuples()})


def _family(summary: pd.DataFrame, scenario: str, loop: str) -> pd.DataFrame:
    """The measured cells of one scenario on one loop."""
    return summary[
        (summary["scenario"] == scenario) & (summary["loop"] == loop) & (summary["requests"] > 0)
    ]


def _mean_by_users(frame: pd.DataFrame, col: str) -> pd.Series:
    return frame.groupby("users")[col].mean().sort_index()


def _legend(fig: Figure, axes: list, extra: list | None = None) -> None:
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


def _finish(fig: Figure, title: str) -> Figure:
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.07, 1, 0.96))
    return fig


def _mark_invalid(ax: plt.Axes, group: pd.DataFrame, col: str) -> bool:
    bad = group[~group["valid"] & group[col].notna()]
    if bad.empty:
        return False
    ax.scatter(bad["users"], bad[col], marker="x", s=70, color="#B00020", zorder=5, linewidths=2)
    return True


def _invalid_handle() -> tuple:
    from matplotlib.lines import Line2D

    return (
        Line2D([], [], marker="x", color="#B00020", linestyle="none", markersize=8, mew=2),
        "invalid cell (not trusted)",
    )


def _users_panels(
    summary: pd.DataFrame,
) -> tuple[Figure, list[tuple[plt.Axes, pd.DataFrame]]] | None:
    """One panel per scenario family with users on a log x axis; None when nothing ran."""
    families = _families(summary)
    if not families:
        return None
    loops = summary["loop"].nunique()
    fig, axes = _panels(len(families))
    panels = []
    for ax, (scenario, loop) in zip(axes, families, strict=True):
        fam = _family(summary, scenario, loop)
        ax.set_title(_label(scenario, loop, loops))
        ax.set_xlabel("concurrent users")
        ax.set_xscale("log")
        _user_ticks(ax, fam["users"])
        panels.append((ax, fam))
    return fig, panels


def throughput_vs_users(summary: pd.DataFrame) -> Figure | None:
    made = _users_panels(summary)
    if made is None:
        return None
    fig, panels = made
    any_invalid = False
    for ax, fam in panels:
        for variant in _variants(fam):
            group = fam[fam["variant"] == variant]
            rps = _mean_by_users(group, "rps")
            colour = COLOURS[variant]
            ax.plot(rps.index, rps.values, marker="o", color=colour, label=variant, lw=2)
            bound = _mean_by_users(group, "expected_rps").dropna()
            if len(bound):
                ax.plot(bound.index, bound.values, ls="--", color=colour, lw=1.2, alpha=0.8)
            any_invalid |= _mark_invalid(ax, group, "rps")
        ax.set_ylabel("throughput (req/s)")
        _scale_y(ax, pd.concat([fam["rps"], fam["expected_rps"]]))
    from matplotlib.lines import Line2D

    extra = [(Line2D([], [], ls="--", color="grey"), "model bound (same colour)")]
    if any_invalid:
        extra.append(_invalid_handle())
    _legend(fig, [ax for ax, _ in panels], extra)
    return _finish(
        fig, "Throughput vs load: measured (solid) against each strategy's bound (dashed)"
    )


def _user_ticks(ax: plt.Axes, users: pd.Series) -> None:
    ticks = sorted(set(int(u) for u in users))
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(FixedLocator([]))


def latency_vs_users(summary: pd.DataFrame) -> Figure | None:
    made = _users_panels(summary)
    if made is None:
        return None
    fig, panels = made
    any_invalid = False
    for ax, fam in panels:
        for variant in _variants(fam):
            group = fam[fam["variant"] == variant]
            colour = COLOURS[variant]
            p50 = _mean_by_users(group, "p50_ms")
            p99 = _mean_by_users(group, "p99_ms")
            ax.plot(p50.index, p50.values, marker="o", color=colour, label=variant, lw=2)
            ax.plot(p99.index, p99.values, marker="^", color=colour, ls=":", lw=1.5)
            any_invalid |= _mark_invalid(ax, group, "p99_ms")
        ax.set_ylabel("latency (ms)")
        _scale_y(ax, fam[["p50_ms", "p99_ms"]].to_numpy(dtype=float).ravel())
    from matplotlib.lines import Line2D

    extra = [
        (Line2D([], [], marker="o", color="grey"), "p50"),
        (Line2D([], [], marker="^", ls=":", color="grey"), "p99"),
    ]
    if any_invalid:
        extra.append(_invalid_handle())
    _legend(fig, [ax for ax, _ in panels], extra)
    return _finish(fig, "Latency vs load: median (solid) and 99th percentile (dotted)")


SPECTRUM_MAX_PCT = 99.9
SPECTRUM_POINTS = 1500  # per line: enough for a smooth curve, small enough for a light SVG


def spectrum_cells(summary: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """For each scenario family, the cells at the highest load level every variant reached."""
    out = {}
    for scenario, loop in _families(summary):
        fam = _family(summary, scenario, loop)
        common = set.intersection(*(set(g["users"]) for _, g in fam.groupby("variant")))
        users = max(common) if common else fam["users"].max()
        out[(scenario, loop)] = fam[
            (fam["users"] == users) & (fam["repeat"] == fam["repeat"].min())
        ]
    return out


def latency_spectrum(summary: pd.DataFrame, requests: pd.DataFrame) -> Figure | None:
    chosen = spectrum_cells(summary)
    if not chosen:
        return None
    loops = summary["loop"].nunique()
    fig, axes = _panels(len(chosen))
    by_cell = requests[requests["ok"]].groupby("cell_id", observed=True)["latency_ms"]
    ticks = [0, 50, 90, 99, 99.9]
    for ax, ((scenario, loop), cells) in zip(axes, chosen.items(), strict=True):
        spans: list[np.ndarray] = [np.array([])]
        for row in sorted(cells.itertuples(), key=lambda r: VARIANT_ORDER.index(r.variant)):
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
            ax.plot(x, y, color=COLOURS[row.variant], label=row.variant, lw=2, ls=style)
            spans.append(y)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator([1 / (1 - t / 100) for t in ticks]))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{(1 - 1 / v) * 100:g}%"))
        ax.xaxis.set_minor_locator(FixedLocator([]))
        _scale_y(ax, np.concatenate(spans), span=5.0)
        users = int(cells["users"].iloc[0])
        ax.set_title(f"{_label(scenario, loop, loops)}, {users} users")
        ax.set_xlabel("percentile")
        ax.set_ylabel("latency (ms)")
    _legend(fig, axes)
    return _finish(fig, "Latency by percentile (HdrHistogram style): tails to the right")


def time_series(
    summary: pd.DataFrame,
    series: dict[str, pd.DataFrame],
    warmups: dict[str, float],
    ends: dict[str, float] | None = None,
) -> Figure | None:
    """series: cell_id → per-second frame (second, rps, p95_ms) counted from the cell's t0;
    ends: cell_id → the window's end in the same seconds (the partial tail is not drawn)."""
    ends = ends or {}
    chosen = spectrum_cells(summary)
    if not chosen:
        return None
    loops = summary["loop"].nunique()
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            2, len(chosen), figsize=(5.2 * len(chosen), 6.6), squeeze=False, sharex="col"
        )
    for col, ((scenario, loop), cells) in enumerate(chosen.items()):
        top, bottom = axes[0][col], axes[1][col]
        warm = 0.0
        for row in sorted(cells.itertuples(), key=lambda r: VARIANT_ORDER.index(r.variant)):
            frame = series.get(row.cell_id)
            if frame is None or frame.empty:
                continue
            warm = warmups.get(row.cell_id, 0.0)
            if row.cell_id in ends:
                frame = frame[frame["second"] + 1 <= ends[row.cell_id] + 1e-6]
            colour = COLOURS[row.variant]
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
        top.set_title(f"{_label(scenario, loop, loops)}, {users} users")
        top.set_ylabel("req/s (per second)")
        bottom.set_ylabel("p95 latency (ms)")
        top.yaxis.set_major_formatter(FuncFormatter(_number))
        top.set_ylim(bottom=0)
        lines = [ln.get_ydata() for ln in bottom.get_lines()]
        _scale_y(bottom, np.concatenate(lines) if lines else np.array([]))
        bottom.set_xlabel("seconds since load started")
    from matplotlib.patches import Patch

    _legend(fig, list(axes.flat), [(Patch(color="grey", alpha=0.15), "warm-up (excluded)")])
    return _finish(fig, "Over time: throughput and p95 each second (shaded warm-up is excluded)")


def cpu_vs_users(summary: pd.DataFrame) -> Figure | None:
    if summary["server_cpu_pct"].isna().all():
        return None
    made = _users_panels(summary)
    if made is None:
        return None
    fig, panels = made
    for ax, fam in panels:
        for variant in _variants(fam):
            cpu = _mean_by_users(fam[fam["variant"] == variant], "server_cpu_pct")
            ax.plot(cpu.index, cpu.values, marker="o", color=COLOURS[variant], label=variant, lw=2)
        ax.axhline(100, color="grey", ls="--", lw=1)
        ax.set_ylabel("server CPU (% of one core)")
        ax.set_ylim(bottom=0)
    from matplotlib.lines import Line2D

    _legend(
        fig, [ax for ax, _ in panels], [(Line2D([], [], ls="--", color="grey"), "one core busy")]
    )
    return _finish(
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
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for variant in _variants(fan):
        group = fan[fan["variant"] == variant].groupby("calls")["p50_ms"].mean().sort_index()
        concurrent = variant in ("fanout", "gencoroutine")
        ax.plot(
            group.index,
            group.values,
            marker="o",
            lw=2,
            color=COLOURS[variant],
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
    _scale_y(ax, fan["p50_ms"].to_numpy(dtype=float), span=5.0)
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
            _label(s, lo, loops) for s, lo in zip(ranking["scenario"], ranking["loop"], strict=True)
        ]
    )
    families = sorted(ranking["family"].unique())
    variants = [v for v in VARIANT_ORDER if v in set(ranking["variant"])]
    width = 0.8 / max(len(variants), 1)
    with plt.rc_context(STYLE):
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
            color=COLOURS[variant],
            label=variant,
        )
    ax.set_xticks(x, families)
    ax.set_ylabel("best valid throughput (req/s)")
    ax.set_yscale("log")
    ax.set_title("Strategy summary: best valid req/s per strategy and workload")
    ax.legend(ncol=min(len(variants), 6), loc="upper center", bbox_to_anchor=(0.5, -0.12))
    fig.tight_layout()
    return fig
