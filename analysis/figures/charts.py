"""The report's charts: one table saying, for each chart, its file name, its title, the plot
function that draws it, what that function is given and which reading goes under it; and the
rendering of that table into charts/*.png|svg."""

from __future__ import annotations

import errno
import io as stdio
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import aggregate
from analysis.figures.backlog import backlog_over_time
from analysis.figures.bars import cost_bars, strategy_bars
from analysis.figures.connections import memory_per_connection, p99_vs_connections
from analysis.figures.curves import Curves, shown_curves, spectra_of
from analysis.figures.lines import (
    cpu_vs_users,
    fanout_vs_calls,
    latency_spectrum,
    latency_vs_users,
    throughput_vs_users,
    time_series,
)
from analysis.figures.openloop import openloop_latency
from analysis.figures.techempower import te_bars
from analysis.forked import Shared
from analysis.load import RunData
from analysis.openloop import closed_cells
from analysis.readings import connections, techempower
from analysis.readings.backlog import backlog_of, read_backlog
from analysis.readings.cost import cost_table, read_cost
from analysis.readings.openloop import read_openloop
from analysis.readings.summary import (
    read_cpu,
    read_fanout,
    read_latency,
    read_ranking,
    read_series,
    read_spectrum,
    read_throughput,
)
from catalog import workloads
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
        cells = summary[summary["strategy"].map(forks).astype(bool) & (summary["requests"] > 0)]
        return dict(zip(cells["cell_id"], cells["busiest_share"], strict=True))

    @cached_property
    def cost(self) -> pd.DataFrame:
        """The cells the CPU-cost chart and its reading compare (cost_table)."""
        return cost_table(self.closed)

    def series_args(self) -> tuple[Any, ...]:
        """time_series's arguments: the series, each cell's warm-up and window end, in
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
        throughput_vs_users,
        _closed,
        lambda m: read_throughput(m.closed, m.shares),
    ),
    ChartSpec(
        "latency",
        "Latency p50 and p99 vs users",
        latency_vs_users,
        _closed,
        lambda m: read_latency(m.closed),
    ),
    ChartSpec(
        "openloop",
        "Open loop: latency vs offered rate",
        openloop_latency,
        lambda m: (m.summary, m.slo_ms),
        lambda m: read_openloop(m.summary),
    ),
    ChartSpec(
        "spectrum",
        "Latency percentile spectrum",
        latency_spectrum,
        lambda m: (m.closed, m.spectra()),
        lambda m: read_spectrum(m.closed),
    ),
    ChartSpec(
        "timeseries",
        "Throughput and p95 over time",
        time_series,
        ChartInputs.series_args,
        lambda m: read_series(m.closed, m.windows),
    ),
    ChartSpec(
        "cpu",
        "Server CPU vs users",
        cpu_vs_users,
        _closed,
        lambda m: read_cpu(m.closed),
    ),
    ChartSpec(
        "cost",
        "CPU cost per request",
        cost_bars,
        lambda m: (m.cost,),
        lambda m: read_cost(m.cost),
    ),
    ChartSpec(
        "fanout",
        "Fan-out: latency vs upstream calls",
        fanout_vs_calls,
        _closed,
        lambda m: read_fanout(m.closed),
    ),
    ChartSpec(
        "backlog",
        "Respond now, work later: background backlog over time",
        backlog_over_time,
        lambda m: backlog_of(m.summary, m.run.backlog),
        lambda m: read_backlog(backlog_of(m.summary, m.run.backlog)[0]),
    ),
    ChartSpec(
        "techempower",
        "TechEmpower test types",
        te_bars,
        lambda m: techempower.chart_args(m.summary),
        lambda m: techempower.read_chart(m.summary),
    ),
    ChartSpec(
        "connections-memory",
        "Long-lived connections: server memory per connection",
        memory_per_connection,
        lambda m: (connections.live_cells(m.summary),),
        lambda m: connections.read_memory(m.summary),
    ),
    ChartSpec(
        "connections-latency",
        "Long-lived connections: p99 latency vs connections held",
        p99_vs_connections,
        lambda m: (connections.live_cells(m.summary),),
        lambda m: connections.read_latency(m.summary),
    ),
    ChartSpec(
        "strategies",
        "Strategy summary",
        strategy_bars,
        lambda m: (m.ranking,),
        lambda m: read_ranking(m.ranking),
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
    # Text as SVG text, not a path per glyph: a third less time to write, a smaller file whose
    # words can be found and copied; the font is named (DejaVu Sans, as in the PNG).
    with plt.rc_context({"svg.fonttype": "none"}):
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
    """Start rendering the charts in parallel (analysis/forked.py: forked workers that inherit
    the imported plotting modules and the jobs, and die with the report process). Returns a
    function that waits for them (each result is PNG bytes, None (nothing to show) or the
    exception that chart raised) and one that kills the workers, whatever they were doing."""
    shared = Shared(partial(_try, _render_chart), jobs, CHART_WORKERS)
    return shared.results, shared.stop


def _try(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as exc:  # returned, reported by the caller
        return exc
