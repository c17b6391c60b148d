"""Every chart of the report, drawn from runs with every strategy (and a user's own app),
both loops, invalid and generator-limited cells: nothing is clipped, every strategy keeps its
own look, the cost chart compares what it should."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from analysis import aggregate
from analysis.figures import kit as plotkit
from analysis.figures.charts import CHARTS, ChartInputs
from analysis.load import load_run
from analysis.readings import cost as readings_cost
from catalog.strategies import LOOPS, TARGET, VARIANT_NAMES
from record import io
from record.records import CellSpec
from tests.analysis.fixtures import T0, cell, steady_requests, write_cell, write_run

VARIANTS = [*VARIANT_NAMES, "myapp"]
INVALID, LIMITED = "sync", "coroutine"  # generator cores at 95 % and at 80 %
FULL = [("hello", {}), ("sleep", {"ms": 50}), ("fanout", {"n": 1, "ms": 50})]
FULL.append(("fanout", {"n": 4, "ms": 50}))


def patch_cell(run_dir: Path, c: CellSpec, **fields: Any) -> None:
    """Set cell.json fields the shared fixture writer does not take."""
    path = run_dir / "cells" / c.cell_id / "cell.json"
    io.write_json(path, {**json.loads(path.read_text()), **fields})


def _write(run_dir: Path, c: CellSpec, position: int) -> None:
    # coroutine and fanout (positions 1 and 3) measure the same: their lines lie on each other.
    rate = 100.0 + 10 * (position if position not in (1, 3) else 1)
    cost_ms = (0.2 + 0.05 * position) * (0.8 if c.loop == "uvloop" else 1.0)
    write_cell(
        run_dir,
        c,
        requests=steady_requests(rate, 50, T0 + 1, T0 + 3),
        server_cpu=cost_ms * rate / 10,
        outside=steady_requests(rate, 50, T0, T0 + 1),
    )
    core = {INVALID: 95.0, LIMITED: 80.0}.get(c.variant, 20.0)
    shares = {"101": 1.0, "102": 0.0} if c.variant == "multiprocess" else {"100": 1.0}
    patch_cell(run_dir, c, loadgen_core_pct=core, server_shares=shares)


def build(
    run_dir: Path, scenarios: list, loops: tuple[str, ...], users: tuple[int, ...]
) -> ChartInputs:
    cells = [
        (cell(v, users=u, scenario=s, params=p, loop=loop), i)
        for s, p in scenarios
        for loop in loops
        for i, v in enumerate(VARIANTS)
        for u in users
    ]
    failed = cell("threadpool", users=users[-1], scenario="cpu", params={"n": 1000})
    write_run(run_dir, [c for c, _ in cells] + [failed])
    for c, position in cells:
        _write(run_dir, c, position)
    write_cell(run_dir, failed, requests=None, window=None, status="failed", reason="boom")
    run = load_run(run_dir)
    summary = aggregate.build_summary(run.cells, run.cell_requests, run.run_id)
    return ChartInputs(run, summary, aggregate.ranking(summary))


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> ChartInputs:
    return build(tmp_path_factory.mktemp("full"), FULL, LOOPS, (1, 10))


@pytest.fixture(scope="module")
def narrow(tmp_path_factory: pytest.TempPathFactory) -> ChartInputs:
    """One scenario on one loop: one-column charts (the time series used to clip here)."""
    return build(tmp_path_factory.mktemp("narrow"), [("sleep", {"ms": 50})], ("asyncio",), (10,))


def _off_view(fig: Figure) -> set[int]:
    """Tick labels of ticks outside their axis's view: matplotlib keeps them but never draws
    them."""
    skip = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            slack = (hi - lo) * 1e-9
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not lo - slack <= tick.get_loc() <= hi + slack:
                    skip.update({id(tick.label1), id(tick.label2)})
    return skip


def _drawn_texts(fig: Figure) -> list[Text]:
    skip = _off_view(fig)
    return [
        t
        for t in fig.findobj(Text)
        if t.get_visible()
        and t.get_text().strip()
        and (t.axes is None or t.axes.get_visible())
        and id(t) not in skip
    ]


def assert_inside(fig: Figure, name: str) -> None:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    assert legends, f"{name}: no legend"
    artists = [*legends, *_drawn_texts(fig)]
    for artist in artists:
        ext = artist.get_window_extent(renderer)
        inside = (
            ext.x0 >= box.x0 - 0.5
            and ext.y0 >= box.y0 - 0.5
            and ext.x1 <= box.x1 + 0.5
            and ext.y1 <= box.y1 + 0.5
        )
        what = artist.get_text() if isinstance(artist, Text) else "legend"
        assert inside, f"{name}: {what!r} at {ext} outside the figure {box}"


@pytest.mark.parametrize("chart", CHARTS, ids=[c.name for c in CHARTS])
@pytest.mark.parametrize("which", ["full", "narrow"])
def test_every_text_and_legend_inside_the_figure(
    chart: Any, which: str, request: pytest.FixtureRequest
) -> None:
    material: ChartInputs = request.getfixturevalue(which)
    assert (~material.summary["valid"]).any() and material.summary["generator_limited"].any()
    fig = chart.make(*chart.args(material))
    if fig is None:
        assert (
            (which, chart.name)
            in {
                ("narrow", "fanout"),
                ("full", "openloop"),
                ("narrow", "openloop"),
                ("full", "backlog"),
                ("narrow", "backlog"),
                ("full", "techempower"),
                ("narrow", "techempower"),
                *(
                    (w, c)
                    for w in ("full", "narrow")
                    for c in ("connections-memory", "connections-latency")
                ),
            }
        )  # no sweep / no open-loop cell / no enqueue cell / no TechEmpower cell / no long-lived cell
        return
    try:
        assert_inside(fig, chart.name)
        assert chart.read(material)
    finally:
        plt.close(fig)


def test_no_two_strategies_look_alike() -> None:
    names = [*VARIANT_NAMES, TARGET, "myapp", "orders-api"]
    looks = {n: plotkit.style(n) for n in names}
    keys = [(s.colour, s.marker, str(s.linestyle)) for s in looks.values()]
    assert len(set(keys)) == len(keys), looks
    # Markers alone tell the built-in strategies apart; the same name always looks the same.
    assert len({looks[n].marker for n in VARIANT_NAMES}) == len(VARIANT_NAMES)
    assert plotkit.style("myapp") == looks["myapp"]


def _lines(fig: Figure) -> list[tuple[str, str, str]]:
    return [
        (line.get_label(), line.get_marker(), str(line.get_linestyle()))
        for ax in fig.axes
        for line in ax.get_lines()
        if not line.get_label().startswith("_")
    ]


def test_equal_lines_stay_apart(full: ChartInputs) -> None:
    spec = _spec("throughput")
    fig = spec.make(*spec.args(full))
    try:
        drawn = {label: (marker, ls) for label, marker, ls in _lines(fig)}
        assert drawn["coroutine"] != drawn["fanout"]
    finally:
        plt.close(fig)


def test_throughput_draws_intervals_and_generator_limited_points(full: ChartInputs) -> None:
    spec = _spec("throughput")
    fig = spec.make(*spec.args(full))
    try:
        labels = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
        assert "generator-limited: req/s is at least this" in labels
        assert "invalid cell (not trusted)" in labels
        bars = [
            c for ax in fig.axes for c in ax.collections if "LineCollection" in type(c).__name__
        ]
        assert bars, "no error bars drawn"
    finally:
        plt.close(fig)


def test_cost_table_keeps_invalid_cells_and_drops_failed_ones(full: ChartInputs) -> None:
    table = full.cost
    assert set(table["variant"]) == set(VARIANTS)
    assert "cpu-n1000" not in set(table["scenario"])  # the failed cell measured nothing
    sync = table[(table["variant"] == INVALID)]
    assert not sync["valid"].any() and len(sync) == len(FULL) * len(LOOPS)
    assert (table["users"] == 10).all()  # the highest level every bar reached
    hello = table[(table["scenario"] == "hello") & (table["variant"] == "threadpool")]
    costs = hello.set_index("loop")["cost_ms"]
    assert costs["asyncio"] == pytest.approx(0.3) and costs["uvloop"] == pytest.approx(0.24)


def test_cost_reading_compares_loops_and_names_untrusted_throughput(full: ChartInputs) -> None:
    text = readings_cost.read_cost(full.cost)
    # Every pair is 20 % cheaper on uvloop: each scenario reads its first strategy's pair.
    assert text.startswith(
        "sync on fanout-ms50-n1: uvloop 0.16 ms CPU per request vs asyncio 0.2 (−20 %); "
    )
    pairs = len(VARIANTS) * len(FULL)  # every strategy (and the app) on every scenario
    assert (
        f"Over all {pairs} pairs in the chart, uvloop changed CPU per request by −20 % "
        f"({pairs} cheaper)." in text
    )
    assert "Throughput is invalid or generator-limited for coroutine on fanout-ms50-n1" in text
    assert readings_cost.read_cost(full.cost.iloc[0:0]) == readings_cost.NO_COST


def _spec(name: str) -> Any:
    return next(c for c in CHARTS if c.name == name)


def test_cost_bars_label_every_bar(full: ChartInputs) -> None:
    spec = _spec("cost")
    made = spec.make(*spec.args(full))
    try:
        panel = made.axes[0]
        labels = [t.get_text() for t in panel.texts]
        assert len(labels) == len(VARIANTS) * len(LOOPS)
        assert any(label.endswith("*") for label in labels)  # sync's invalid throughput
    finally:
        plt.close(made)


def test_strategy_bars_mark_shared_ranks(full: ChartInputs) -> None:
    spec = _spec("strategies")
    ranking = full.ranking
    fig = spec.make(*spec.args(full))
    try:
        texts = [t.get_text() for t in fig.axes[0].texts]
        assert len(texts) == len(ranking)
        shared = ranking.groupby(["scenario", "loop", "rank"])["variant"].transform("size") > 1
        assert sum(t.endswith("=") for t in texts) == int(shared.sum())
    finally:
        plt.close(fig)


def test_charts_table_names_are_unique() -> None:
    names = pd.Series([c.name for c in CHARTS])
    assert names.is_unique and "cost" in set(names)
