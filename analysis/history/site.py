"""The history's static page: what was read, the table of detected changes, and per machine
and configuration a trend chart per metric (each run's value with its run-level interval, the
change points marked). One self-contained index.html (charts inline as PNG), beside
points.csv (every series point) and changes.csv (every reported change)."""

from __future__ import annotations

import base64
import html
import io as stdio
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.figures.kit import plt
from analysis.history.changes import MACHINE
from analysis.history.runs import HistoryRun
from record import io

DPI = 80  # small inline charts: a page of 50 configurations stays a few MB
SHORT_COMMIT = 8
MAX_TICKS = 7  # run labels (number and commit) per panel that fit side by side


def _run_label(commit: str, dirty: object, index: int) -> str:
    mark = "*" if dirty is True else ""
    return f"{index}\n{commit[:SHORT_COMMIT]}{mark}" if commit else str(index)


def chart(series: pd.DataFrame, changes: pd.DataFrame, metrics: tuple[str, ...]) -> str:
    """One configuration on one machine: a panel per metric; base64 PNG."""
    shown = [m for m in metrics if (series["metric"] == m).any()]
    fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 2.8), squeeze=False)
    for ax, metric in zip(axes[0], shown, strict=True):
        s = series[series["metric"] == metric].sort_values("run_index")
        x = s["run_index"].to_numpy(int)
        y = s["value"].to_numpy(float)
        lo = np.clip(y - s["low"].to_numpy(float), 0, None)
        hi = np.clip(s["high"].to_numpy(float) - y, 0, None)
        ax.errorbar(x, y, yerr=[lo, hi], fmt="o-", ms=3, lw=1, capsize=2, color="#0072B2")
        for c in changes[changes["metric"] == metric].itertuples(index=False):
            colour = "#999999" if c.cause == MACHINE else "#D55E00"
            ax.axvline(c.run_index - 0.5, color=colour, ls="--", lw=1.2)
        ax.set_title(metric, fontsize=9)
        ax.tick_params(labelsize=7)
        step = max(1, math.ceil(len(x) / MAX_TICKS))
        ax.set_xticks(x[::step])
        labels = [_run_label(str(r.commit), r.dirty, int(r.run_index)) for r in s.itertuples()]
        ax.set_xticklabels(labels[::step], fontsize=6)
        ax.set_ylim(bottom=0)
    # A fixed layout: tight_layout would draw every figure twice (half of the page's time).
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.22, top=0.88, wspace=0.25)
    buf = stdio.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><tr>{head}</tr>{rows}</table>"


def changes_view(changes: pd.DataFrame) -> pd.DataFrame:
    def ci(lo: float, hi: float) -> str:
        return f"[{lo:+.1%}, {hi:+.1%}]" if math.isfinite(lo) and math.isfinite(hi) else "–"

    return pd.DataFrame(
        {
            "machine": changes["machine"],
            "configuration": changes["config"],
            "metric": changes["metric"],
            "from run": changes["run_index"].astype(str) + " " + changes["run_id"],
            "commit": changes["commit"].str[:SHORT_COMMIT],
            "before → after": [
                f"{b:,.4g} → {a:,.4g}"
                for b, a in zip(changes["before"], changes["after"], strict=True)
            ],
            "size": [
                f"{c:+.1%}" + (" (machine)" if why == MACHINE else "")
                for c, why in zip(changes["change"], changes["cause"], strict=True)
            ],
            "95% CI": [
                ci(lo, hi) for lo, hi in zip(changes["ci_lo"], changes["ci_hi"], strict=True)
            ],
        }
    )


CSS = (
    "body{font-family:sans-serif;margin:1.5em;max-width:1400px}"
    "table{border-collapse:collapse;font-size:0.85em}td,th{border:1px solid #ccc;padding:2px 6px}"
    "h3{margin-bottom:0.2em;font-size:1em}img{display:block}"
)


def render(
    runs: list[HistoryRun],
    points: pd.DataFrame,
    changes: pd.DataFrame,
    series_count: int,
    metrics: tuple[str, ...],
    skipped: list[str],
) -> str:
    machines = sorted({r.machine for r in runs})
    when = [datetime.fromtimestamp(r.started, UTC) for r in runs if math.isfinite(r.started)]
    span = f"{min(when):%Y-%m-%d} – {max(when):%Y-%m-%d}" if when else "?"
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>tornado-bench history</title>"
        f"<style>{CSS}</style></head><body><h1>tornado-bench history</h1>",
        f"<p>{len(runs)} runs ({span}) on {len(machines)} machine(s); {series_count} series "
        f"({', '.join(metrics)}) examined; {len(changes)} change(s) reported. Each machine's "
        "runs are a series of their own, never mixed.</p>",
        "<p>Change points: E-Divisive means (Apache Otava's variant), reported only when the "
        "runs' own 95 % intervals separate before and after; (machine): the run's machine-"
        "speed reading accounts for it. Dashed lines in the charts mark them (grey: machine). "
        "x axis: run number and commit (* uncommitted changes).</p>",
        "<h2>Detected changes</h2>",
        _table(changes_view(changes)) if len(changes) else "<p>None.</p>",
    ]
    if skipped:
        items = "".join(f"<li>{html.escape(s)}</li>" for s in skipped)
        parts.append(f"<h2>Not read</h2><ul>{items}</ul>")
    for machine in machines:
        parts.append(f"<h2>{html.escape(machine)}</h2>")
        mine = points[points["machine"] == machine]
        for config, series in mine.groupby("config", sort=True):
            found = changes[(changes["machine"] == machine) & (changes["config"] == config)]
            parts.append(f"<h3>{html.escape(str(config))}</h3>")
            parts.append(
                f"<img alt='{html.escape(str(config))}' "
                f"src='data:image/png;base64,{chart(series, found, metrics)}'>"
            )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_site(
    out: Path,
    runs: list[HistoryRun],
    points: pd.DataFrame,
    changes: pd.DataFrame,
    series_count: int,
    metrics: tuple[str, ...],
    skipped: list[str],
) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise io.UserError(f"history: cannot create {out} ({exc.strerror or exc})") from None
    io.atomic_write(out / "points.csv", lambda tmp: points.to_csv(tmp, index=False))
    io.atomic_write(out / "changes.csv", lambda tmp: changes.to_csv(tmp, index=False))
    page = out / "index.html"
    io.write_text(page, render(runs, points, changes, series_count, metrics, skipped))
    return page
