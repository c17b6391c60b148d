"""The report's "TechEmpower test types": one table per type measured, the best strategy per
type with the others as ratios, efficiency only where the model has a bound, and the chart
(every text inside the figure), from a synthetic run of TechEmpower cells."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from analysis import aggregate
from analysis.figures import kit
from analysis.figures.charts import CHARTS, ChartInputs
from analysis.load import load_run
from analysis.report import techempower
from analysis.report.build import build_report
from tests.analysis.fixtures import T0, cell, steady_requests, write_cell, write_run
from tests.analysis.test_charts import assert_inside

SCENARIOS = [
    ("te-plaintext", {}),
    ("te-queries", {"queries": 1, "pool": 10}),
    ("te-queries", {"queries": 20, "pool": 10}),
    ("te-updates", {"queries": 20, "pool": 10}),
    ("te-fortunes", {"pool": 10}),
]
# req/s per strategy: coroutine leads every type, sync is half of it; uvloop coroutine 1.2×.
RATES = {
    ("coroutine", "asyncio"): 200.0,
    ("sync", "asyncio"): 100.0,
    ("coroutine", "uvloop"): 240.0,
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("te")
    cells = [
        (cell(v, users=u, scenario=s, params=p, loop=loop), RATES[(v, loop)] * (u / 64))
        for s, p in SCENARIOS
        for (v, loop) in RATES
        for u in (16, 64)
    ]
    write_run(folder, [c for c, _ in cells])
    for c, rate in cells:
        write_cell(
            folder,
            c,
            requests=steady_requests(rate, 20, T0 + 1, T0 + 3),
            server_cpu=rate * 0.3,  # 3 ms of CPU per request
            outside=steady_requests(rate, 20, T0, T0 + 1),
        )
    return folder


def test_one_table_per_type_with_the_best_and_ratios(run_dir: Path) -> None:
    run = load_run(run_dir)
    summary = aggregate.build_summary(run.cells, run.cell_requests, run.run_id)
    tables = techempower.type_tables(summary, None)
    assert [t.title for t in tables] == [
        "TechEmpower: plaintext",
        "TechEmpower: queries",
        "TechEmpower: updates",
        "TechEmpower: fortunes",
    ]
    by_title = {t.title: t for t in tables}
    heads = {t.title: [h.text for h in t.table.head] for t in tables}
    assert "eff" in heads["TechEmpower: plaintext"]  # a bound: the utilization law
    assert "eff" not in heads["TechEmpower: updates"]  # none, as for db-write
    assert "p99 corr. ms" not in heads["TechEmpower: fortunes"]  # no open-loop cell here
    assert "type" in heads["TechEmpower: queries"]  # N=1 and N=20 side by side
    assert len(by_title["TechEmpower: queries"].table.rows) == 2 * 3 * 2
    items = by_title["TechEmpower: queries"].items
    assert items[0].startswith("queries N=1: coroutine (uvloop) best, 240.0 req/s at 64 users")
    assert "coroutine (asyncio) 0.83×;" in items[0] and "sync (asyncio) 0.42×." in items[0]
    assert items[1].startswith("queries N=20: ")


def test_the_chart_fits_and_reads_the_best(run_dir: Path) -> None:
    run = load_run(run_dir)
    summary = aggregate.build_summary(run.cells, run.cell_requests, run.run_id)
    material = ChartInputs(run, summary, aggregate.ranking(summary))
    chart = next(c for c in CHARTS if c.name == "techempower")
    best, order = chart.args(material)
    assert order == ["plaintext", "queries N=1", "queries N=20", "updates N=20", "fortunes"]
    assert set(best.groupby("te_type")["strategy"].first()) == {"coroutine (uvloop)"}
    fig = chart.make(best, order)
    try:
        assert_inside(fig, chart.name)
    finally:
        plt.close(fig)
    assert chart.read(material).startswith("Best strategy per type")


def test_a_generator_limited_bar_is_marked_at_least(run_dir: Path) -> None:
    """A type whose best req/s the generator set is a lower bound: a caret over that bar,
    and the legend says so; none where no bar is limited."""
    run = load_run(run_dir)
    summary = aggregate.build_summary(run.cells, run.cell_requests, run.run_id)
    chart = next(c for c in CHARTS if c.name == "techempower")
    best, order = chart.args(ChartInputs(run, summary, aggregate.ranking(summary)))
    best = best.assign(generator_limited=False)
    plain = chart.make(best, order)
    limited = best["te_type"].eq("plaintext") & best["strategy"].eq("coroutine (uvloop)")
    marked = chart.make(best.assign(generator_limited=limited), order)
    try:

        def carets(fig: plt.Figure) -> list[tuple[float, float]]:
            lines = [ln for ln in fig.axes[0].get_lines() if ln.get_marker() == kit.LIMITED_MARKER]
            return [tuple(xy) for ln in lines for xy in ln.get_xydata()]

        def legend(fig: plt.Figure) -> list[str]:
            return [t.get_text() for lg in fig.legends for t in lg.get_texts()]

        assert carets(plain) == [] and not any("at least" in t for t in legend(plain))
        ((x, y),) = carets(marked)
        top = float(best[limited]["rps_ci_high"].iloc[0])
        assert x < 0.5 and y > top  # over the plaintext group's uvloop bar, above its interval
        assert "generator-limited: req/s is at least this" in legend(marked)
        assert_inside(marked, chart.name)
    finally:
        plt.close(plain)
        plt.close(marked)


def test_report_has_the_section_and_chart(run_dir: Path) -> None:
    result = build_report(run_dir)
    html = result.report_path.read_text()
    at = html.index("<h2>TechEmpower test types</h2>")
    assert html.index("<h2>TechEmpower: plaintext</h2>") > at
    assert html.index("<h2>TechEmpower: fortunes</h2>") > html.index("TechEmpower: updates")
    assert "id='techempower'" in html[at : html.index("<h2>TechEmpower: plaintext</h2>")]
    assert html.count("id='techempower'") == 1  # not repeated among the other charts
    assert (run_dir / "charts" / "techempower.png").is_file()


def test_no_section_without_techempower_cells(tmp_path: Path) -> None:
    c = cell("sync", scenario="hello", params={})
    write_run(tmp_path, [c])
    write_cell(tmp_path, c, requests=steady_requests(100, 5, T0 + 1, T0 + 3))
    html = build_report(tmp_path).report_path.read_text()
    assert "TechEmpower" not in html
