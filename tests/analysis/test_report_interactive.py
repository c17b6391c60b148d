"""report.html in a real browser: headless Chromium (Debian's `chromium`, driven by Playwright
with the system binary; nothing is downloaded). The page opens from a file URL with no network
request, every interactive chart draws, hovering a point names its value and cell, a strategy's
legend entry hides its lines, a time series zooms with its pair, the cell table sorts by req/s
and filters by strategy, and with JavaScript off the PNGs and tables are there.

Skipped, with the reason, only where no Chromium binary is installed (`apt-get install
chromium`; .ci/run installs it)."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from analysis.figures import interactive
from analysis.figures.interactive import InteractiveChart
from analysis.report.build import build_report
from analysis.report.interactive import chart_json
from record import io
from tests.analysis.fixtures import cell, write_cell
from tests.analysis.test_openloop_report import RATES, WINDOW, on_time, one_at_a_time
from tests.analysis.test_report import make_run

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    *("--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"),
    *("--disable-component-update", "--disable-sync", "--no-first-run"),
]
needs_chromium = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"no Chromium at {CHROMIUM} (apt-get install chromium); .ci/run installs it",
)
DRAWN = {"throughput", "latency", "spectrum", "timeseries", "cpu", "openloop"}
WAIT_MS = 20_000  # a generous ceiling for what the page does in well under a second


def _with_open_loop(run_dir: Path) -> None:
    """make_run's closed-loop cells plus open-loop /sleep cells at three rates (an SLO)."""
    opened = []
    for variant in ("sync", "coroutine"):
        for rate in RATES:
            c = replace(cell(variant, users=50), rate=rate)
            reqs = on_time(rate) if variant == "coroutine" or rate <= 20 else one_at_a_time(rate)
            write_cell(run_dir, c, requests=reqs, window=WINDOW, server_cpu=1.0)
            opened.append(c.cell_id)
    run = io.read_json(run_dir / "run.json")
    run["cells"] = [*run["cells"], *opened]
    run["suite"]["slo_ms"] = 100.0
    io.write_json(run_dir / "run.json", run)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("interactive")
    make_run(run_dir)
    _with_open_loop(run_dir)
    result = build_report(run_dir)
    assert {c.name for c in result.charts} >= DRAWN
    return result.report_path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class Page:
    """A page of the report with what it logged: console errors, uncaught exceptions and every
    request it made."""

    def __init__(self, browser: Any, url: str, *, javascript: bool = True) -> None:
        self.context = browser.new_context(
            java_script_enabled=javascript, viewport={"width": 1280, "height": 900}
        )
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(url)
        if javascript:
            self.page.wait_for_function("document.documentElement.dataset.ready", timeout=WAIT_MS)

    def drawn(self, name: str) -> Any:
        """The chart's host element, scrolled into view and drawn."""
        host = self.page.locator(f".ichart[data-chart='{name}']")
        host.scroll_into_view_if_needed()
        self.page.wait_for_function(
            "n => window.benchCharts[n] && window.benchCharts[n].plots.length",
            arg=name,
            timeout=WAIT_MS,
        )
        return host

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def page(browser: Any, report: Path) -> Iterator[Page]:
    opened = Page(browser, report.as_uri())
    yield opened
    assert opened.errors == []
    opened.close()


@needs_chromium
def test_opens_from_a_file_with_no_network_request(page: Page, report: Path) -> None:
    for name in DRAWN:
        page.drawn(name)
    assert page.requests == [report.as_uri()]
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", report.read_text())


@needs_chromium
def test_every_interactive_chart_draws_its_panels(page: Page, report: Path) -> None:
    data = json.loads(page.page.locator("#bench-charts").text_content() or "")
    assert set(data["charts"]) == DRAWN
    for name, chart in data["charts"].items():
        host = page.drawn(name)
        assert host.locator(".uplot").count() == len(chart["panels"])
        # Each panel's canvas has lines on it, not only its background.
        inked = host.evaluate(
            """h => Array.from(h.querySelectorAll('canvas')).map(c => {
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let n = 0;
                for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
                return n;
            })"""
        )
        assert min(inked) > 500, (name, inked)
        keys = host.locator(".keys .key").all_text_contents()
        assert keys == [k["group"] for k in chart["keys"]]
        # The PNG stays, linked from the chart.
        assert host.locator("xpath=..").locator(f"a[href='charts/{name}.png']").count() == 1


def _point(page: Page, chart: str, label: str, x: float, title: str = "") -> dict[str, Any]:
    """Where series `label`'s point at x is drawn (in the first panel whose title starts with
    `title`), in page pixels, and its value."""
    found: dict[str, Any] = page.page.evaluate(
        """([chart, label, x, title]) => {
            const state = window.benchCharts[chart];
            for (let p = 0; p < state.plots.length; p++) {
                const u = state.plots[p], panel = state.panels[p];
                if (!panel.title.startsWith(title)) continue;
                const k = panel.series.findIndex(s => s.label === label);
                const i = u.data[0].indexOf(x);
                if (k < 0 || i < 0 || u.data[k + 1][i] == null) continue;
                const box = u.over.getBoundingClientRect();
                return {x: box.left + u.valToPos(x, 'x'), y: box.top + u.valToPos(u.data[k + 1][i], 'y'),
                        value: u.data[k + 1][i], panel: p, series: k + 1};
            }
            return null;
        }""",
        [chart, label, x, title],
    )
    assert found is not None, (chart, label, x)
    return found


@needs_chromium
def test_hovering_a_point_shows_its_value_and_cell(page: Page, report: Path) -> None:
    summary = pd.read_csv(report.parent / "summary.csv")
    row = summary[(summary["variant"] == "coroutine") & (summary["users"] == 10)]
    row = row[row["scenario"] == "sleep-ms50"].iloc[0]
    page.drawn("throughput")
    point = _point(page, "throughput", "coroutine", 10.0, "sleep-ms50")
    assert point["value"] == pytest.approx(row["rps"], rel=1e-4)
    page.page.mouse.move(point["x"], point["y"])
    tip = page.page.locator(".ichart[data-chart='throughput'] .tip:visible")
    tip.wait_for(timeout=WAIT_MS)
    text = tip.inner_text()
    assert row["cell_id"] in text
    assert f"{row['rps']:,.0f} req/s at 10 users" in text
    assert "95% interval" in text


@needs_chromium
def test_a_legend_entry_hides_its_strategy(page: Page) -> None:
    host = page.drawn("latency")
    # The pixels of a panel where sync has lines.
    pixels = """() => {
        const state = window.benchCharts.latency;
        const p = state.panels.findIndex(panel => panel.series.some(s => s.group === 'sync'));
        return state.plots[p].ctx.canvas.toDataURL();
    }"""
    before = page.page.evaluate(pixels)
    button = host.locator(".keys .key", has_text="sync")
    button.click()
    assert button.get_attribute("aria-pressed") == "false"
    shown = page.page.evaluate(
        """() => {
            const state = window.benchCharts.latency;
            return state.plots.flatMap((u, p) => state.panels[p].series.map((s, k) =>
                [s.group, u.series[k + 1].show]));
        }"""
    )
    assert {show for group, show in shown if group == "sync"} == {False}
    assert {show for group, show in shown if group != "sync"} == {True}
    assert page.page.evaluate(pixels) != before
    # Hovering where sync's point was names another strategy, never the hidden one.
    button.click()
    point = _point(page, "latency", "sync", 10.0)
    button.click()
    page.page.mouse.move(point["x"], point["y"])
    tip = host.locator(".tip:visible")
    tip.wait_for(timeout=WAIT_MS)
    assert not tip.inner_text().startswith("sync")
    button.click()
    assert button.get_attribute("aria-pressed") == "true"


@needs_chromium
def test_a_time_series_zooms_with_its_pair(page: Page) -> None:
    host = page.drawn("timeseries")
    over = host.locator(".u-over").first
    box = over.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.page.mouse.move(box["x"] + box["width"] * 0.3, y)
    page.page.mouse.down()
    page.page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=5)
    page.page.mouse.up()
    ranges = page.page.evaluate(
        "() => window.benchCharts.timeseries.plots.slice(0, 2)"
        ".map(u => [u.scales.x.min, u.scales.x.max, u.data[0][0], u.data[0][u.data[0].length-1]])"
    )
    (lo, hi, first, last), pair = ranges[0], ranges[1]
    assert first < lo < hi < last  # zoomed in
    assert pair[:2] == pytest.approx([lo, hi])  # its p95 panel followed


def _column(page: Page, table: Any, heading: str) -> list[str]:
    col = table.locator("thead th").all_text_contents().index(heading)
    return page.page.evaluate(
        "([t, c]) => Array.from(t.tBodies[0].rows).filter(r => !r.hidden)"
        ".map(r => r.cells[c].textContent)",
        [table.element_handle(), col],
    )


def _number(text: str) -> float:
    return float(text.replace(",", "").replace("≥", "").strip() or "nan")


@needs_chromium
def test_the_cell_table_sorts_by_req_s_and_filters(page: Page) -> None:
    table = page.page.locator("#every-cell table")
    table.scroll_into_view_if_needed()
    heading = table.locator("thead th", has_text=re.compile(r"^req/s"))
    heading.click()
    assert heading.get_attribute("aria-sort") == "descending"
    values = [_number(v) for v in _column(page, table, "req/s") if v.strip() not in ("", "–")]
    assert len(values) > 5 and values == sorted(values, reverse=True)
    heading.click()
    values = [_number(v) for v in _column(page, table, "req/s") if v.strip() not in ("", "–")]
    assert values == sorted(values)
    section = page.page.locator("#every-cell")
    section.locator("select[data-filter='variant']").select_option("sync")
    ids = _column(page, table, "cell")
    assert ids and all(i.startswith("sync-") for i in ids)
    assert section.locator(".filters .count").inner_text().endswith(" rows")
    section.locator("select[data-filter='status']").select_option("failed")
    assert _column(page, table, "cell") == []
    section.locator("select[data-filter='variant']").select_option("")
    assert [i.split("-")[0] for i in _column(page, table, "cell")] == ["threadpool"]


@needs_chromium
def test_contents_link_every_section(page: Page) -> None:
    links = page.page.locator("nav.toc a")
    targets = [
        h.removeprefix("#") for h in links.evaluate_all("l => l.map(a => a.getAttribute('href'))")
    ]
    assert targets[0] == "which-strategy-for-which-work"  # the ranking stays first
    assert {"charts", "every-cell", "environment"} <= set(targets)
    for target in targets:
        assert page.page.locator(f"section#{target} h2").count() == 1


@needs_chromium
def test_without_javascript_the_pngs_and_tables_are_there(browser: Any, report: Path) -> None:
    opened = Page(browser, report.as_uri(), javascript=False)
    try:
        page = opened.page
        page.wait_for_load_state("load")
        images = page.locator("figure img")
        count = images.count()
        assert count >= len(DRAWN) + 2  # the interactive charts' PNGs and the static ones
        loaded = images.evaluate_all("imgs => imgs.map(i => i.complete && i.naturalWidth > 0)")
        assert all(loaded)
        assert page.locator(".uplot").count() == 0
        rows = page.locator("#every-cell tbody tr").count()
        assert rows == len(pd.read_csv(report.parent / "summary.csv"))
        assert all(u.startswith("file://") for u in opened.requests)
    finally:
        opened.close()


def test_chart_data_is_safe_inside_a_script_element() -> None:
    """A cell id or app name holding markup cannot end the JSON's script element."""
    chart = interactive.InteractiveChart(
        "throughput",
        "t",
        (
            interactive.Panel(
                "</script><script>alert(1)</script>",
                (1.0,),
                interactive.Axis("users"),
                interactive.Axis("req/s"),
                (interactive.Series("a&b", "a&b", "#000000", (1.0,), ("<!--x-->",)),),
            ),
        ),
        (interactive.Key("a&b", "#000000"),),
    )
    text = chart_json({"throughput": chart})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text)["charts"]["throughput"]["panels"][0]["title"].startswith("</script>")


def test_connection_charts_as_data() -> None:
    from tests.analysis.test_connections_report import summary

    base = summary()
    feed = base[(base["scenario_name"] == "ws-feed") & (base["variant"] == "coroutine")]
    cells = pd.concat([base, feed.assign(loop="uvloop")], ignore_index=True)
    chart = interactive.connections_latency(cells)
    assert isinstance(chart, InteractiveChart)
    titles = [p.title for p in chart.panels]
    assert titles == ["WebSocket feed (delivery)", "long-poll (wait to answer)"]
    feed_panel = chart.panels[0]
    lines = {s.label: s for s in feed_panel.series}
    plain, other = lines["coroutine (asyncio)"], lines["coroutine (uvloop)"]
    assert plain.colour == other.colour and other.hollow and other.dash != plain.dash
    assert feed_panel.x == (1000.0, 5000.0) and lines["sync (asyncio)"].y == (90.0, None)
    assert [h.label for h in feed_panel.hlines] == ["delivery SLO"]
    assert interactive.connections_memory(cells.iloc[0:0]) is None


def test_a_chart_that_fails_to_build_leaves_its_png(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_: Any) -> None:
        raise RuntimeError("boom")

    make_run(tmp_path)
    monkeypatch.setitem(interactive.BUILDERS, "latency", broken)
    page = build_report(tmp_path).report_path.read_text()
    assert "warning: interactive chart latency left as its PNG: RuntimeError: boom" in (
        capsys.readouterr().err
    )
    figure = page.split("<figure id='latency'>")[1].split("</figure>")[0]
    assert "data:image/png;base64," in figure and "ichart" not in figure


def test_a_point_names_its_cells_once_per_panel() -> None:
    repeats = [f"sync-asyncio-sleep-ms50-u10-r{r}" for r in (1, 2, 3)]
    assert interactive.cell_list(repeats) == "sync-asyncio-sleep-ms50-u10-r1, r2, r3"
    others = [f"app{n}-asyncio-hello-u10-r1" for n in range(6)]
    assert interactive.cell_list(others).endswith("app3-asyncio-hello-u10-r1 (+2 more)")
    assert interactive.cell_list([]) == ""
    ids = ("a-r1", "b-r1")
    series = (
        interactive.Series("x", "x", "#000000", (1.0, 2.0), ids),
        interactive.Series("x p99", "x", "#000000", (3.0, 4.0), ids),
        interactive.Series("y", "y", "#111111", (5.0, None), ("c-r1",)),
    )
    panel = interactive.Panel(
        "p", (1.0, 2.0), interactive.Axis("users"), interactive.Axis("ms"), series
    )
    keys = (interactive.Key("x", "#000000"), interactive.Key("y", "#111111"))
    data = interactive.InteractiveChart("latency", "t", (panel,), keys).to_json()
    (out,) = data["panels"]
    assert out["cells"] == ["a-r1", "b-r1", "c-r1"]
    assert [s["ids"] for s in out["series"]] == [[0, 1], [0, 1], [2]]
    assert out["series"][2]["y"] == [5, None]
