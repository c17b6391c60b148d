"""The report's charts: one table saying, for each chart, its file name, its title, the plot
function that draws it, what that function is given and which reading goes under it; and the
rendering of that table into charts/*.png|svg."""

from __future__ import annotations

import errno
import io as stdio
import multiprocessing
import os
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import aggregate
from analysis.figures import bars as plot_bars
from analysis.figures import connections as plot_connections
from analysis.figures import lines as plot
from analysis.figures import openloop as plot_openloop
from analysis.figures import techempower as plot_te
from analysis.figures.backlog import backlog_over_time
from analysis.figures.curves import Curves, shown_curves, spectra_of
from analysis.load import RunData
from analysis.openloop import closed_cells
from analysis.readings import backlog as backlog_text
from analysis.readings import connections as connections_text
from analysis.readings import cost as readings_cost
from analysis.readings import openloop as openloop_text
from analysis.readings import summary as readings
from analysis.readings import techempower
from catalog import workloads
from catalog.lifeline import die_with_parent
from catalog.strategies import forks
from record import io

CHART_DPI = 110
CHART_WORKERS = 2  # processes that render charts side by side (rendering dominates report time)


@dataclass(frozen=True)
class Chart:
    name: str
    title: str
    reading: str
    png: bytes


@dataclass(frozen=True)
class ChartInputs:
    """What the charts and their readings are drawn from. The costlier parts are computed
    once, when a chart or a reading first asks (per-process CPU only for a drawn chart)."""

    run: RunData
    summary: pd.DataFrame
    ranking: pd.DataFrame

    @cached_property
    def closed(self) -> pd.DataFrame:
        """The closed-loop request cells: the charts per users draw only these. An open-loop
        cell's users is its cap on requests in flight, the same at every offered rate; a
        long-lived cell's users is the connections it holds, one level per scenario, drawn
        against the connections held in charts of its own."""
        cells = closed_cells(self.summary)
        if cells.empty or "scenario_name" not in cells:
            return cells
        live = cells["scenario_name"].map(lambda name: bool(workloads.live(str(name))))
        return cells[~live.astype(bool)]

    @property
    def slo_ms(self) -> float | None:
        """The suite's latency objective (slo_ms), if it set one."""
        return self.run.run.settings.slo_ms

    @cached_property
    def shown(self) -> pd.DataFrame:
        """The cells the spectrum and time-series charts draw, one frame."""
        cells = list(aggregate.spectrum_cells(self.closed).values())
        return pd.concat(cells) if cells else self.closed.iloc[0:0]

    @cached_property
    def curves(self) -> dict[str, Curves]:
        """cell_id → the shown cells' spectrum and per-second series, read one cell at a
        time (the chart processes get these few numbers, never request rows)."""
        return shown_curves(self.run, self.shown)

    def spectra(self) -> dict[str, Any]:
        """cell_id → the shown cells' latency spectrum (curves.spectrum_curve)."""
        return spectra_of(self.curves)

    @property
    def windows(self) -> dict[str, pd.DataFrame]:
        """cell_id → per whole second of the window, for the stability reading."""
        return {cell_id: c.window for cell_id, c in self.curves.items()}

    @property
    def series(self) -> dict[str, pd.DataFrame]:
        """cell_id → completions and p95 per whole second from the start of warm-up to the end
        of the window (warm-up and tail rows included: the chart shows the ramp)."""
        return {cell_id: c.series for cell_id, c in self.curves.items()}

    @cached_property
    def shares(self) -> dict[str, float]:
        """Busiest process's share of the server's CPU for every measured forking cell."""
        summary = self.summary
        cells = summary[summary["variant"].map(forks).astype(bool) & (summary["requests"] > 0)]
        return {
            row.cell_id: aggregate.busiest_worker_share(self.run.resources(row.cell_id), row.window)
            for row in cells.itertuples()
        }

    @cached_property
    def cost(self) -> pd.DataFrame:
        """The cells the CPU-cost chart and its reading compare (readings_cost.cost_table)."""
        return readings_cost.cost_table(self.closed)

    def series_args(self) -> tuple[Any, ...]:
        """plot.time_series's arguments: the series, each cell's warm-up and window end, in
        seconds since its t0."""
        warmup = self.run.run.settings.warmup_s
        drawn = self.shown[self.shown["cell_id"].isin(set(self.series))]
        length = drawn["window"].map(lambda w: w.duration_s) + warmup
        ends = dict(zip(drawn["cell_id"], length, strict=True))
        return (self.closed, self.series, dict.fromkeys(self.series, warmup), ends)


@dataclass(frozen=True)
class ChartSpec:
    name: str  # file name in charts/ and the figure's id in report.html
    title: str
    make: Callable[..., Any]  # a plot function: its arguments → Figure, or None
    args: Callable[[ChartInputs], tuple[Any, ...]]
    read: Callable[[ChartInputs], str]


def _closed(m: ChartInputs) -> tuple[Any, ...]:
    return (m.closed,)


# In report order.
CHARTS: tuple[ChartSpec, ...] = (
    ChartSpec(
        "throughput",
        "Throughput vs users",
        plot.throughput_vs_users,
        _closed,
        lambda m: readings.read_throughput(m.closed, m.shares),
    ),
    ChartSpec(
        "latency",
        "Latency p50 and p99 vs users",
        plot.latency_vs_users,
        _closed,
        lambda m: readings.read_latency(m.closed),
    ),
    ChartSpec(
        "openloop",
        "Open loop: latency vs offered rate",
        plot_openloop.openloop_latency,
        lambda m: (m.summary, m.slo_ms),
        lambda m: openloop_text.read_openloop(m.summary),
    ),
    ChartSpec(
        "spectrum",
        "Latency percentile spectrum",
        plot.latency_spectrum,
        lambda m: (m.closed, m.spectra()),
        lambda m: readings.read_spectrum(m.closed),
    ),
    ChartSpec(
        "timeseries",
        "Throughput and p95 over time",
        plot.time_series,
        ChartInputs.series_args,
        lambda m: readings.read_series(m.closed, m.windows),
    ),
    ChartSpec(
        "cpu",
        "Server CPU vs users",
        plot.cpu_vs_users,
        _closed,
        lambda m: readings.read_cpu(m.closed),
    ),
    ChartSpec(
        "cost",
        "CPU cost per request",
        plot_bars.cost_bars,
        lambda m: (m.cost,),
        lambda m: readings_cost.read_cost(m.cost),
    ),
    ChartSpec(
        "fanout",
        "Fan-out: latency vs upstream calls",
        plot.fanout_vs_calls,
        _closed,
        lambda m: readings.read_fanout(m.closed),
    ),
    ChartSpec(
        "backlog",
        "Respond now, work later: background backlog over time",
        backlog_over_time,
        lambda m: backlog_text.backlog_of(m.summary, m.run.backlog),
        lambda m: backlog_text.read_backlog(backlog_text.backlog_of(m.summary, m.run.backlog)[0]),
    ),
    ChartSpec(
        "techempower",
        "TechEmpower test types",
        plot_te.te_bars,
        lambda m: techempower.chart_args(m.summary),
        lambda m: techempower.read_chart(m.summary),
    ),
    ChartSpec(
        "connections-memory",
        "Long-lived connections: server memory per connection",
        plot_connections.memory_per_connection,
        lambda m: (connections_text.live_cells(m.summary),),
        lambda m: connections_text.read_memory(m.summary),
    ),
    ChartSpec(
        "connections-latency",
        "Long-lived connections: p99 latency vs connections held",
        plot_connections.p99_vs_connections,
        lambda m: (connections_text.live_cells(m.summary),),
        lambda m: connections_text.read_latency(m.summary),
    ),
    ChartSpec(
        "strategies",
        "Strategy summary",
        plot_bars.strategy_bars,
        lambda m: (m.ranking,),
        lambda m: readings.read_ranking(m.ranking),
    ),
)

Job = tuple[str, Callable[..., Any], tuple[Any, ...], Path]
# Writing failed for lack of room or rights: not a broken chart, the report cannot be written.
STORAGE_ERRORS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EACCES)


@dataclass(frozen=True)
class Rendering:
    """Charts being drawn in the worker processes, begun by start_charts: the report builds
    what needs no chart (the hlogs, the page's data) meanwhile, then asks for them."""

    material: ChartInputs
    collect: Callable[[], list[Any]]  # each chart's PNG bytes, None or the exception it raised
    cancel: Callable[[], None] = lambda: None  # stop the workers (the report failed meanwhile)

    def __enter__(self) -> Rendering:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()

    def charts(self) -> list[Chart]:
        """Every chart that had something to show, read. A chart that raised is skipped with a
        warning: one broken chart must not lose the report."""
        charts = []
        for spec, png in zip(CHARTS, self.collect(), strict=True):
            if isinstance(png, OSError) and png.errno in STORAGE_ERRORS:
                raise png  # a full disk is the user's to know, as for any results file
            if isinstance(png, BaseException):
                print(
                    f"warning: chart {spec.name} skipped: {type(png).__name__}: {png}",
                    file=sys.stderr,
                )
            elif png is not None:
                charts.append(Chart(spec.name, spec.title, spec.read(self.material), png))
        return charts


def start_charts(material: ChartInputs, charts_dir: Path) -> Rendering:
    """Begin drawing every chart of CHARTS, each written as PNG and SVG into charts_dir; the
    arguments (the curves, read one cell at a time) are computed here, before the workers
    start."""
    if material.summary.empty:
        return Rendering(material, lambda: [None] * len(CHARTS))
    jobs = [(spec.name, spec.make, spec.args(material), charts_dir) for spec in CHARTS]
    return Rendering(material, *_start_render(jobs))


def build_charts(material: ChartInputs, charts_dir: Path) -> list[Chart]:
    """Draw every chart of CHARTS that has something to show, write its PNG and SVG into
    charts_dir and read it."""
    return start_charts(material, charts_dir).charts()


def _save(fig: Any, charts_dir: Path, name: str) -> bytes:
    import matplotlib.pyplot as plt

    png = stdio.BytesIO()
    fig.savefig(png, format="png", dpi=CHART_DPI)
    io.write_bytes(charts_dir / f"{name}.png", png.getvalue())
    # The PNG's drawing placed every axis (constrained layout, in figure fractions, the same
    # at any dpi): the SVG keeps those places instead of laying the figure out again, a
    # quarter of a chart's time.
    fig.set_layout_engine("none")
    svg = stdio.BytesIO()
    fig.savefig(svg, format="svg")
    io.write_bytes(charts_dir / f"{name}.svg", svg.getvalue())
    plt.close(fig)
    return png.getvalue()


def _render_chart(job: Job) -> bytes | None:
    """Build one figure and write its PNG and SVG; runs in a worker process."""
    name, make, args, charts_dir = job
    fig = make(*args)
    return None if fig is None else _save(fig, charts_dir, name)


def _start_render(jobs: list[Job]) -> tuple[Callable[[], list[Any]], Callable[[], None]]:
    """Start rendering the charts in parallel. Returns a function that waits for them (each
    result is PNG bytes, None (nothing to show) or the exception that chart raised) and one
    that stops the workers, whatever they were doing."""
    workers = min(len(jobs), CHART_WORKERS, os.cpu_count() or 1)
    if workers <= 1:
        return (lambda: [_try(_render_chart, job) for job in jobs]), (lambda: None)
    # fork: the workers inherit the imported plotting modules instead of importing them again.
    # Each worker dies with the report process, even a SIGKILLed one: forked workers would
    # otherwise stay behind, idle, for good (found by killing `report` mid-write).
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    )
    try:
        # The workers are forked here, by the first submissions, in this thread.
        futures = [pool.submit(_render_chart, job) for job in jobs]
    except BaseException:
        pool.shutdown(cancel_futures=True)
        raise

    def collect() -> list[Any]:
        try:
            return [f.exception() or f.result() for f in futures]
        finally:
            pool.shutdown(cancel_futures=True)

    return collect, lambda: pool.shutdown(wait=False, cancel_futures=True)


def _try(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as exc:  # returned, reported by the caller
        return exc
