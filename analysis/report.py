"""Run folder → summary.csv, charts/*.png|svg and one self-contained report.html.
Idempotent: rebuilding from the same raw data gives the same files."""

from __future__ import annotations

import base64
import html
import io as stdio
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import aggregate, plot
from analysis.load import RunData, load_run
from harness import io

CHART_DPI = 110
IMBALANCE_SHARE = 0.8  # a multiprocess worker doing more than this did the work alone
LOW_EFFICIENCY = 0.6  # readings call out valid cells this far below their bound
CHART_WORKERS = 2  # processes that render charts side by side


@dataclass(frozen=True)
class Chart:
    name: str
    title: str
    reading: str
    png: bytes


@dataclass(frozen=True)
class ReportResult:
    summary: pd.DataFrame
    ranking: pd.DataFrame
    charts: list[Chart]
    report_path: Path
    table_text: str


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


# -- one-sentence readings -------------------------------------------------------------


def _top_load(summary: pd.DataFrame) -> pd.DataFrame:
    ok = summary[summary["valid"] & summary["rps"].notna()]
    if ok.empty:
        return ok
    idx = ok.groupby(["scenario", "loop"])["users"].transform("max") == ok["users"]
    return ok[idx]


def read_throughput(summary: pd.DataFrame, shares: dict[str, float] | None = None) -> str:
    top = _top_load(summary)
    if top.empty:
        return "No valid cell to read."
    parts = []
    for (scenario, _loop), group in top.groupby(["scenario", "loop"]):
        best = group.loc[group["rps"].idxmax()]
        worst = group.loc[group["rps"].idxmin()]
        ratio = best["rps"] / worst["rps"] if worst["rps"] else math.nan
        parts.append(
            f"{scenario} at {int(best['users'])} users: {best['variant']} {best['rps']:,.0f} req/s"
            + (f", {ratio:,.1f}× {worst['variant']}" if best["variant"] != worst["variant"] else "")
        )
    valid = summary[summary["valid"] & summary["efficiency"].notna()]
    tail = ""
    if len(valid):
        eff = valid["efficiency"]
        tail = f" Efficiency against the bound ranged {eff.min():.2f}–{eff.max():.2f}."
        low = valid[eff < LOW_EFFICIENCY].sort_values("efficiency")
        if len(low):
            tail += (
                " Far below their bound: "
                + ", ".join(_low_reason(r, shares or {}) for r in low.head(3).itertuples())
                + "."
            )
    return "; ".join(parts) + "." + tail


def _low_reason(row: Any, shares: dict[str, float]) -> str:
    text = f"{row.variant} on {row.scenario} at {int(row.users)} users ({row.efficiency:.2f}"
    share = shares.get(row.cell_id, math.nan)
    if row.variant == "multiprocess" and share > IMBALANCE_SHARE:
        text += (
            f": one process did {share:.0%} of the work, because kept-alive connections stay"
            " with the process that accepted them"
        )
    return text + ")"


def read_latency(summary: pd.DataFrame) -> str:
    top = _top_load(summary)
    if top.empty:
        return "No valid cell to read."
    parts = []
    for (scenario, _loop), group in top.groupby(["scenario", "loop"]):
        lo = group.loc[group["p99_ms"].idxmin()]
        hi = group.loc[group["p99_ms"].idxmax()]
        parts.append(
            f"{scenario}: p99 from {lo['p99_ms']:,.1f} ms ({lo['variant']}) to "
            f"{hi['p99_ms']:,.1f} ms ({hi['variant']})"
        )
    return "At the highest load, " + "; ".join(parts) + "."


def read_spectrum(summary: pd.DataFrame) -> str:
    ok = summary[summary["valid"] & (summary["p50_ms"] > 0)]
    if ok.empty:
        return "No valid cell to read."
    tail = ok.assign(ratio=ok["p999_ms"] / ok["p50_ms"])
    worst = tail.loc[tail["ratio"].idxmax()]
    return (
        f"The heaviest tail is {worst['variant']} on {worst['scenario']} at "
        f"{int(worst['users'])} users: p99.9 is {worst['ratio']:.1f}× its median."
    )


def read_series(series: dict[str, pd.DataFrame], windows: dict[str, tuple[float, float]]) -> str:
    cvs = []
    for cell_id, frame in series.items():
        start, end = windows[cell_id]
        inside = frame[(frame["second"] >= math.ceil(start)) & (frame["second"] + 1 <= end)]
        if len(inside) >= 2 and inside["rps"].mean() > 0:
            cvs.append(inside["rps"].std(ddof=1) / inside["rps"].mean())
    if not cvs:
        return "Too few whole seconds in the window to judge stability."
    return (
        f"After warm-up, per-second throughput varied by at most {max(cvs):.0%} "
        "(coefficient of variation) in the cells shown."
    )


def read_cpu(summary: pd.DataFrame) -> str:
    ok = summary[summary["valid"] & summary["server_cpu_pct"].notna()]
    if ok.empty:
        return "No CPU samples to read."
    top = ok.loc[ok["server_cpu_pct"].idxmax()]
    low = _top_load(summary)
    low = low[low["server_cpu_pct"].notna()]
    tail = ""
    if len(low):
        idle = low.loc[low["server_cpu_pct"].idxmin()]
        tail = (
            f"; {idle['variant']} on {idle['scenario']} used only "
            f"{idle['server_cpu_pct']:.0f}% at {int(idle['users'])} users (waiting, not computing)"
        )
    return (
        f"Busiest: {top['variant']} on {top['scenario']} at {int(top['users'])} users used "
        f"{top['server_cpu_pct']:.0f}% of a core{tail}."
    )


def read_fanout(summary: pd.DataFrame) -> str:
    fan = summary[(summary["scenario_name"] == "fanout") & summary["valid"]].copy()
    if fan.empty:
        return "No valid fan-out cell."
    fan["calls"] = fan["params"].map(lambda p: p["n"])
    most = fan[fan["calls"] == fan["calls"].max()]
    conc = most[most["variant"].isin(["fanout", "gencoroutine"])]["p50_ms"].min()
    seq = most[~most["variant"].isin(["fanout", "gencoroutine"])]["p50_ms"].min()
    return (
        f"With {int(most['calls'].iloc[0])} calls per request, the best concurrent median is "
        f"{_fmt(conc)} ms against {_fmt(seq)} ms for the best sequential strategy."
    )


def read_ranking(ranking: pd.DataFrame) -> str:
    if ranking.empty:
        return "No valid cell, so no ranking."
    best = ranking[ranking["rank"] == 1]
    return (
        "Best valid strategy per workload: "
        + "; ".join(f"{r.scenario} → {r.variant} ({r.rps:,.0f} req/s)" for r in best.itertuples())
        + "."
    )


# -- building --------------------------------------------------------------------------


def worker_shares(run: RunData, summary: pd.DataFrame) -> dict[str, float]:
    """Busiest process's share of the server's CPU for every measured multiprocess cell."""
    cells = summary[(summary["variant"] == "multiprocess") & (summary["requests"] > 0)]
    return {
        row.cell_id: aggregate.busiest_worker_share(
            run.resources(row.cell_id), row.window_start, row.window_end
        )
        for row in cells.itertuples()
    }


def _per_second_series(run: RunData, summary: pd.DataFrame) -> tuple[dict, dict, dict]:
    series: dict[str, pd.DataFrame] = {}
    warmups: dict[str, float] = {}
    windows: dict[str, tuple[float, float]] = {}
    warmup = float(run.meta.get("suite", {}).get("warmup_s", 0.0))
    grouped = run.requests.groupby("cell_id", observed=True)
    for cells in plot.spectrum_cells(summary).values():
        for row in cells.itertuples():
            if row.cell_id not in grouped.groups:
                continue
            inside = grouped.get_group(row.cell_id).drop(columns="cell_id")
            frame = pd.concat([inside, run.outside(row.cell_id)], ignore_index=True)
            t0 = row.window_start - warmup
            series[row.cell_id] = aggregate.per_second(frame, t0)
            warmups[row.cell_id] = warmup
            windows[row.cell_id] = (row.window_start - t0, row.window_end - t0)
    return series, warmups, windows


def _save(fig: Any, charts_dir: Path, name: str) -> bytes:
    import matplotlib.pyplot as plt

    buf = stdio.BytesIO()
    fig.savefig(buf, format="png", dpi=CHART_DPI)
    png = buf.getvalue()
    io.atomic_write(charts_dir / f"{name}.png", lambda tmp: tmp.write_bytes(png))
    svg = stdio.BytesIO()
    fig.savefig(svg, format="svg")
    io.atomic_write(charts_dir / f"{name}.svg", lambda tmp: tmp.write_bytes(svg.getvalue()))
    plt.close(fig)
    return png


def table_text(summary: pd.DataFrame) -> str:
    if summary.empty:
        return "(no cells)"
    cols = {
        "cell_id": "cell",
        "status": "status",
        "requests": "requests",
        "rps": "req/s",
        "p50_ms": "p50 ms",
        "p99_ms": "p99 ms",
        "expected_rps": "bound",
        "efficiency": "eff",
        "loadgen_cpu_pct": "gen CPU%",
        "notes": "notes",
    }
    frame = summary[list(cols)].rename(columns=cols).copy()
    for col, digits in (
        ("req/s", 1),
        ("p50 ms", 1),
        ("p99 ms", 1),
        ("bound", 1),
        ("eff", 2),
        ("gen CPU%", 0),
    ):
        frame[col] = frame[col].map(lambda v, d=digits: _fmt(float(v), d))
    return frame.to_string(index=False, max_colwidth=70)


def _render_chart(job: tuple[str, Callable[..., Any], tuple[Any, ...], Path]) -> bytes | None:
    """Build one figure and write its PNG and SVG; runs in a worker process."""
    name, make, args, charts_dir = job
    fig = make(*args)
    return None if fig is None else _save(fig, charts_dir, name)


def _render_charts(jobs: list[tuple[str, Callable[..., Any], tuple[Any, ...], Path]]) -> list[Any]:
    """Render charts in parallel (rendering dominates report time); each result is PNG bytes,
    None (nothing to show) or the exception that chart raised."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    workers = min(len(jobs), CHART_WORKERS, os.cpu_count() or 1)
    if workers <= 1:
        return [_try(_render_chart, job) for job in jobs]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [pool.submit(_render_chart, job) for job in jobs]
        return [f.exception() or f.result() for f in futures]


def _try(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as exc:  # returned, reported by the caller
        return exc


def build_report(run_dir: str | Path) -> ReportResult:
    run = load_run(run_dir)
    summary = aggregate.build_summary(run.cells, run.requests, run.run_id)
    root = run.path
    csv_frame = summary.reindex(columns=aggregate.SUMMARY_COLUMNS)
    io.atomic_write(root / "summary.csv", lambda tmp: csv_frame.to_csv(tmp, index=False))
    ranking = aggregate.ranking(summary)
    repeats = aggregate.repeat_groups(summary) if len(summary) else pd.DataFrame()

    charts_dir = root / "charts"
    charts: list[Chart] = []
    if len(summary):
        series, warmups, windows = _per_second_series(run, summary)
        ends = {k: v[1] for k, v in windows.items()}
        # Only the spectrum needs raw latencies, and only of the cells it draws.
        shown = {c for cells in plot.spectrum_cells(summary).values() for c in cells["cell_id"]}
        spectrum_requests = run.requests[run.requests["cell_id"].isin(shown)]
        specs: list[tuple[str, str, Callable[..., Any], tuple[Any, ...], Callable[[], str]]] = [
            (
                "throughput",
                "Throughput vs users",
                plot.throughput_vs_users,
                (summary,),
                lambda: read_throughput(summary, worker_shares(run, summary)),
            ),
            (
                "latency",
                "Latency p50 and p99 vs users",
                plot.latency_vs_users,
                (summary,),
                lambda: read_latency(summary),
            ),
            (
                "spectrum",
                "Latency percentile spectrum",
                plot.latency_spectrum,
                (summary, spectrum_requests),
                lambda: read_spectrum(summary),
            ),
            (
                "timeseries",
                "Throughput and p95 over time",
                plot.time_series,
                (summary, series, warmups, ends),
                lambda: read_series(series, windows),
            ),
            (
                "cpu",
                "Server CPU vs users",
                plot.cpu_vs_users,
                (summary,),
                lambda: read_cpu(summary),
            ),
            (
                "fanout",
                "Fan-out: latency vs upstream calls",
                plot.fanout_vs_calls,
                (summary,),
                lambda: read_fanout(summary),
            ),
            (
                "strategies",
                "Strategy summary",
                plot.strategy_bars,
                (ranking,),
                lambda: read_ranking(ranking),
            ),
        ]
        results = _render_charts(
            [(name, make, args, charts_dir) for name, _, make, args, _ in specs]
        )
        for (name, title, _, _, read), png in zip(specs, results, strict=True):
            if isinstance(png, BaseException):
                # One broken chart must not lose the report.
                print(
                    f"warning: chart {name} skipped: {type(png).__name__}: {png}", file=sys.stderr
                )
            elif png is not None:
                charts.append(Chart(name, title, read(), png))

    page = render_html(run, summary, ranking, repeats, charts)
    report_path = root / "report.html"
    io.write_text(report_path, page)
    return ReportResult(summary, ranking, charts, report_path, table_text(summary))


# -- HTML ------------------------------------------------------------------------------

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1200px;
color:#222;padding:0 1rem;line-height:1.45}
h1{margin-bottom:.2rem} h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}
th{background:#f4f4f4} td.l,th.l{text-align:left}
tr.invalid td{background:#fff4e5} tr.failed td,tr.interrupted td{background:#fde8e8}
.badge{display:inline-block;padding:0 .4rem;border-radius:.3rem;font-size:.75rem;font-weight:600}
.b-ok{background:#e3f4e8;color:#135c2b} .b-invalid{background:#ffe0b2;color:#7a4100}
.b-failed,.b-interrupted{background:#f8d0d0;color:#8b0000}
figure{margin:1.2rem 0} figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.95rem;margin-top:.3rem} .muted{color:#666;font-size:.85rem}
.warn{background:#fff4e5;border-left:4px solid #e69f00;padding:.5rem 1rem}
"""


def _table(
    frame: pd.DataFrame, row_class: pd.Series | None = None, left: set[str] | None = None
) -> str:
    left = left or set()
    head = "".join(
        f'<th class="{"l" if c in left else ""}">{html.escape(str(c))}</th>' for c in frame.columns
    )
    rows = []
    for i, row in enumerate(frame.itertuples(index=False)):
        cls = f' class="{row_class.iloc[i]}"' if row_class is not None else ""
        cells = []
        for col, value in zip(frame.columns, row, strict=True):
            text = (
                value
                if col == "status"
                else html.escape(_fmt(value, 2 if col in ("eff", "× best") else 1))
            )
            cells.append(f'<td class="{"l" if col in left else ""}">{text}</td>')
        rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _placement_text(placement: dict[str, Any]) -> str:
    if not placement:
        return "?"
    server = ", ".join(map(str, placement.get("server_cpus", [])))
    loadgen = ", ".join(map(str, placement.get("loadgen_cpus", [])))
    if placement.get("mode") == "split":
        return f"split: server on CPU {server}; load generator and backend on CPU {loadgen}"
    return f"shared: every process on CPUs {server}"


def render_html(
    run: RunData,
    summary: pd.DataFrame,
    ranking: pd.DataFrame,
    repeats: pd.DataFrame,
    charts: list[Chart],
) -> str:
    meta = run.meta
    suite = meta.get("suite", {})
    env = meta.get("environment", {})
    started = meta.get("started")
    when = datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%d %H:%M UTC") if started else "?"
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>tornado-bench: {html.escape(run.run_id)}</title><style>{CSS}</style></head><body>",
        f"<h1>tornado-bench report: {html.escape(str(suite.get('name', '')))}</h1>",
        f"<p class='muted'>run {html.escape(run.run_id)} · {when} · status "
        f"{html.escape(str(meta.get('status', '?')))} · {html.escape(str(suite.get('description', '')))}</p>",
    ]
    if len(summary):
        counts = summary["status"].value_counts().to_dict()
        bad = {k: v for k, v in counts.items() if k != "ok"}
        if bad:
            parts.append(
                "<p class='warn'>"
                + ", ".join(f"{v} cell(s) {html.escape(k)}" for k, v in bad.items())
                + ": their numbers are shown but not trusted and never ranked. See the notes column.</p>"
            )
    parts.append("<h2>Which strategy for which work</h2>")
    if ranking.empty:
        parts.append("<p>No valid cell, so no ranking.</p>")
    else:
        frame = ranking.rename(
            columns={"vs_best": "× best", "rps": "best req/s", "users": "at users"}
        )
        parts.append(_table(frame, left={"scenario", "loop", "variant"}))
        parts.append(f"<p>{html.escape(read_ranking(ranking))}</p>")

    parts.append("<h2>Charts</h2>")
    for chart in charts:
        data = base64.b64encode(chart.png).decode()
        parts.append(
            f"<figure id='{chart.name}'><img alt='{html.escape(chart.title)}' "
            f"src='data:image/png;base64,{data}'><figcaption><b>{html.escape(chart.title)}.</b> "
            f"{html.escape(chart.reading)}</figcaption></figure>"
        )

    parts.append("<h2>Every cell</h2>")
    parts.append(
        "<p class='muted'>Percentiles are exact (nearest rank) over the raw latencies of successful "
        "requests that completed inside the measured window; warm-up excluded. bound = the model's "
        "upper bound on req/s; eff = req/s ÷ bound.</p>"
    )
    if len(summary):
        cols = {
            "cell_id": "cell",
            "status": "status",
            "requests": "requests",
            "error_rate": "errors",
            "rps": "req/s",
            "mean_ms": "mean ms",
            "p50_ms": "p50",
            "p90_ms": "p90",
            "p99_ms": "p99",
            "p999_ms": "p99.9",
            "max_ms": "max",
            "expected_rps": "bound",
            "efficiency": "eff",
            "server_cpu_pct": "server CPU%",
            "loadgen_cpu_pct": "gen CPU%",
            "notes": "notes",
        }
        frame = summary[list(cols)].rename(columns=cols).copy()
        frame["status"] = [
            f"<span class='badge b-{html.escape(s)}'>{html.escape(s)}</span>"
            for s in summary["status"]
        ]
        frame["errors"] = [f"{v:.2%}" if pd.notna(v) else "–" for v in summary["error_rate"]]
        parts.append(
            _table(frame, summary["status"].reset_index(drop=True), left={"cell", "notes"})
        )
    if len(repeats) and (repeats["repeats"] > 1).any():
        parts.append(
            "<h2>Repeats</h2><p class='muted'>Mean and 95% confidence half-width (Student t) across repeats of valid cells; unstable = coefficient of variation of req/s above 10%.</p>"
        )
        parts.append(_table(repeats, left={"variant", "loop", "scenario"}))

    parts.append("<h2>Environment</h2>")
    cpu = env.get("cpu", {})
    env_rows = [
        ("CPU", f"{cpu.get('model', '?')} ({cpu.get('cores', '?')} cores)"),
        ("memory", f"{env.get('memory', {}).get('total_bytes', 0) / 2**30:.1f} GiB"),
        ("OS", env.get("os", {}).get("platform", "?")),
        ("Python", env.get("python", {}).get("version", "?")),
        ("packages", ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items())),
        (
            "git commit",
            f"{env.get('git', {}).get('commit', '')}{' (modified)' if env.get('git', {}).get('dirty') else ''}",
        ),
        ("placement", _placement_text(meta.get("options", {}).get("placement", {}))),
        (
            "suite",
            f"duration {suite.get('duration_s')} s, warm-up {suite.get('warmup_s')} s, repeats {suite.get('repeats')}, max error rate {suite.get('max_error_rate')}, threads {suite.get('threads')}, processes {suite.get('processes')}",
        ),
    ]
    parts.append(_table(pd.DataFrame(env_rows, columns=["what", "value"]), left={"what", "value"}))
    parts.append(
        "<p class='muted'>Rebuild with <code>python run_bench.py report "
        + html.escape(str(run.path))
        + "</code>.</p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)
