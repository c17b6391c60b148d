"""The open-loop chart, its reading, the SLO section and the cells table's open-loop columns,
on a synthetic run whose answers are worked out by hand.

The run: /sleep?ms=50 with at most 50 requests in flight, offered at 10, 40 and 160 req/s.
coroutine (capacity 50 / 0.05 s = 1,000 req/s) answers every request in 50 ms, on time.
sync (capacity 1 / 0.05 s = 20 req/s) keeps up at 10 req/s; above that it serves one request
every 50 ms, and each request is sent only when the server is free: request i is sent at
i × 50 ms, i × (50 ms − slot) late, so its service latency stays 50 ms while its corrected
latency grows. At 40 req/s (slots 25 ms apart) the 39 requests done inside the 2 s window
are i = 0..38: achieved 19.5 req/s, corrected p99 = the largest, 50 + 25 × 38 = 1,000 ms,
and 38 of 39 sent over 5 ms late (97 %). At 160 req/s the generator's cores are made busy,
so that cell is invalid."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from analysis import aggregate
from analysis.figures.charts import CHARTS, ChartInputs
from analysis.figures.openloop import openloop_latency
from analysis.load import load_run
from analysis.readings.openloop import (
    generator_pointers,
    read_openloop,
    sustained,
    sustained_sentences,
)
from analysis.report import tables as table
from analysis.report.build import build_report
from record import io
from record.records import CellSpec
from tests.analysis.fixtures import T0, cell, steady_requests, write_cell, write_run
from tests.analysis.test_charts import assert_inside, patch_cell

RATES = (10.0, 40.0, 160.0)
WINDOW = (T0 + 1, T0 + 3)
SERVICE_S = 0.05


def _open(variant: str, rate: float) -> CellSpec:
    return replace(cell(variant, users=50), rate=rate)


def _requests(intended: np.ndarray, start: np.ndarray, latency_ms: np.ndarray) -> pd.DataFrame:
    n = len(intended)
    return pd.DataFrame(
        {
            "start": start,
            "latency_ms": latency_ms,
            "endpoint": ["/sleep"] * n,
            "status": [200] * n,
            "bytes": [20] * n,
            "ok": [True] * n,
            "worker": [0] * n,
            "intended_start": intended,
        }
    )


def on_time(rate: float, latency_ms: float = 50.0, send_delay_s: float = 0.0) -> pd.DataFrame:
    """A slot every 1/rate s over the window, each sent send_delay_s late, answered in
    latency_ms."""
    intended = WINDOW[0] + np.arange(int(rate * 2)) / rate
    n = len(intended)
    return _requests(intended, intended + send_delay_s, np.full(n, latency_ms))


def one_at_a_time(rate: float) -> pd.DataFrame:
    """A server that serves one request per SERVICE_S, each request sent when it is free."""
    i = np.arange(int(rate * 2))
    intended = WINDOW[0] + i / rate
    start = np.maximum(intended, WINDOW[0] + i * SERVICE_S)
    return _requests(intended, start, np.full(len(i), SERVICE_S * 1000))


def _set_slo(run_dir: Path, slo_ms: float | None) -> None:
    path = run_dir / "run.json"
    data = json.loads(path.read_text())
    data["suite"]["slo_ms"] = slo_ms
    io.write_json(path, data)


def write_openloop_run(
    run_dir: Path, *, slo_ms: float | None = 100.0, closed: bool = False
) -> list[CellSpec]:
    """The run of the module's note (and one closed-loop cell when `closed`)."""
    cells = [(_open(v, r), v, r) for v in ("sync", "coroutine") for r in RATES]
    extra = [cell("coroutine", users=10)] if closed else []
    write_run(run_dir, [*(c for c, _, _ in cells), *extra])
    _set_slo(run_dir, slo_ms)
    for c, variant, rate in cells:
        reqs = on_time(rate) if variant == "coroutine" or rate <= 20 else one_at_a_time(rate)
        # server_cpu 1 %: the CPU never caps the bound, so the capacities are the waits'.
        write_cell(run_dir, c, requests=reqs, window=WINDOW, server_cpu=1.0)
        if variant == "sync" and rate == 160.0:
            patch_cell(run_dir, c, loadgen_core_pct=95.0)
    for c in extra:
        write_cell(run_dir, c, requests=steady_requests(150, 50, *WINDOW), server_cpu=1.0)
    return [*(c for c, _, _ in cells), *extra]


def _material(run_dir: Path) -> ChartInputs:
    run = load_run(run_dir)
    summary = aggregate.build_summary(run.cells, run.cell_requests, run.run_id)
    return ChartInputs(run, summary, aggregate.ranking(summary))


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> ChartInputs:
    run_dir = tmp_path_factory.mktemp("openloop")
    write_openloop_run(run_dir)
    return _material(run_dir)


def _row(summary: pd.DataFrame, variant: str, rate: float) -> pd.Series:
    return summary[(summary["variant"] == variant) & (summary["offered_rps"] == rate)].iloc[0]


def test_the_fixture_says_what_its_note_says(material: ChartInputs) -> None:
    s = material.summary
    behind = _row(s, "sync", 40.0)
    assert behind["achieved_rps"] == pytest.approx(19.5) and behind["valid"]
    assert behind["p99_corrected_ms"] == pytest.approx(1000.0)
    assert behind["p99_ms"] == pytest.approx(50.0)
    assert behind["capacity_rps"] == pytest.approx(20.0)
    assert behind["utilisation"] == pytest.approx(2.0)
    assert not _row(s, "sync", 160.0)["valid"]
    assert _row(s, "coroutine", 160.0)["capacity_rps"] == pytest.approx(1000.0)


def _spec() -> Any:
    return next(c for c in CHARTS if c.name == "openloop")


def test_chart_draws_every_part_inside_the_figure(material: ChartInputs) -> None:
    spec = _spec()
    assert spec.args(material)[1] == 100.0  # the suite's slo_ms reaches the chart
    fig = spec.make(*spec.args(material))
    try:
        assert_inside(fig, "openloop")
        ax = fig.axes[0]
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"  # 10 to 160: 16x
        texts = [t.get_text() for t in ax.texts]
        assert "SLO 100 ms" in texts
        assert "coroutine bound 1,000 →" in texts  # beyond the rates offered: at the edge
        assert any(t.strip() == "bound 20" for t in texts)  # inside: a line at 20
        verticals = [ln for ln in ax.get_lines() if list(ln.get_xdata()) == [20.0, 20.0]]
        assert verticals, "no bound line for sync"
        labels = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
        for wanted in ("sync", "coroutine", "p99 service: dashed", "invalid cell (not trusted)"):
            assert wanted in labels
        assert any(label.startswith("p99 corrected") for label in labels)
    finally:
        plt.close(fig)


def test_chart_is_left_out_without_open_loop_cells(material: ChartInputs) -> None:
    closed = material.summary.assign(offered_rps=np.nan, open_loop=False)
    assert openloop_latency(closed, 100.0) is None


def test_reading_names_who_fell_behind_with_its_numbers(material: ChartInputs) -> None:
    text = read_openloop(material.summary)
    assert text.startswith(
        "sleep-ms50: sync fell behind at 40 req/s (2.0× its capacity of 20, achieved 19.5): "
        "corrected p99 1,000 ms vs 50 ms service (97% sent late)"
    )
    # The invalid cell at 160 is not read; coroutine kept up everywhere.
    assert "160 req/s (" not in text
    assert "coroutine kept up with every rate (up to 160 req/s)" in text
    assert "generator" not in text


def test_slo_table_lists_each_strategys_highest_sustained_rate(material: ChartInputs) -> None:
    frame = sustained(material.summary, 100.0)
    rates = dict(zip(frame["variant"], frame["max_rate"], strict=True))
    assert rates == {"coroutine": 160.0, "sync": 10.0}
    assert list(frame["variant"]) == ["coroutine", "sync"]  # best first
    missed = dict(zip(frame["variant"], frame["missed"], strict=True))
    assert missed == {"coroutine": "", "sync": "40 (fell behind, 19.5 achieved)"}
    assert sustained_sentences(frame, material.summary, 100.0) == [
        "sleep-ms50: coroutine sustained 160 req/s with corrected p99 under 100 ms "
        "(the highest rate offered: it may sustain more); sync 10."
    ]
    shown = table.sustained_table(frame, 100.0)
    assert [c.text for c in shown.rows[1].cells][:6] == [
        *("sleep-ms50", "asyncio", "sync", "10", "50.0", "20"),
    ]
    # A tighter SLO than sync's 50 ms: sync sustained nothing, and the table says so.
    tight = sustained(material.summary, 40.0)
    assert tight.set_index("variant").loc["sync", "max_rate"] == 0.0
    assert "none" in [c.text for r in table.sustained_table(tight, 40.0).rows for c in r.cells]


def _pointer_frame(**changes: Any) -> pd.DataFrame:
    row = {
        "scenario": "sleep-ms50",
        "loop": "asyncio",
        "variant": "coroutine",
        "requests": 80,
        "offered_rps": 40.0,
        "open_loop": True,
        "utilisation": 0.04,
        "p99_ms": 50.0,
        "p99_corrected_ms": 150.0,
        "loadgen_core_pct": 60.0,
    }
    return pd.DataFrame([{**row, **changes}])


def test_generator_pointer_only_when_the_server_had_room_and_the_gap_is_large() -> None:
    (pointer,) = generator_pointers(_pointer_frame())
    assert pointer == (
        "coroutine on sleep-ms50 at 40 req/s (0.04× its capacity): corrected p99 150 ms vs "
        "50 ms service. The generator, not the server, fell behind at 40 req/s: check "
        "generator CPU (its cores were at 60%)."
    )
    assert not generator_pointers(_pointer_frame(utilisation=0.8))  # the server was busy
    assert not generator_pointers(_pointer_frame(p99_corrected_ms=90.0))  # under 2x
    assert not generator_pointers(_pointer_frame(p99_ms=8.0, p99_corrected_ms=25.0))  # +17 ms


def test_generator_pointer_in_the_reading_and_the_report(tmp_path: Path) -> None:
    # coroutine at 40 req/s, far under its capacity, every request sent 100 ms late.
    late = _open("coroutine", 40.0)
    fine = _open("coroutine", 10.0)
    write_run(tmp_path, [late, fine])
    _set_slo(tmp_path, 100.0)
    write_cell(tmp_path, late, requests=on_time(40.0, send_delay_s=0.1), server_cpu=1.0)
    write_cell(tmp_path, fine, requests=on_time(10.0), server_cpu=1.0)
    summary = _material(tmp_path).summary
    assert _row(summary, "coroutine", 40.0)["p99_corrected_ms"] == pytest.approx(150.0)
    pointers = generator_pointers(summary)
    assert len(pointers) == 1 and pointers[0].startswith("coroutine on sleep-ms50 at 40 req/s")
    assert "The generator, not the server, fell behind at 40 req/s" in read_openloop(summary)
    page = build_report(tmp_path).report_path.read_text()
    assert "Caution: coroutine on sleep-ms50 at 40 req/s" in page


def test_report_ranks_open_loop_by_sustained_rate(tmp_path: Path) -> None:
    write_openloop_run(tmp_path)
    result = build_report(tmp_path)
    page = result.report_path.read_text()
    assert "Sustained rate under the SLO (100 ms)" in page
    assert "coroutine sustained 160 req/s with corrected p99 under 100 ms" in page
    assert "id='openloop'" in page and "sync fell behind at 40 req/s" in page
    # Every cell is open-loop: no req/s-per-users ranking, no chart per users.
    assert "Which strategy for which work" not in page and result.ranking.empty
    assert {c.name for c in result.charts} == {"openloop"}
    assert (tmp_path / "charts" / "openloop.png").exists()
    assert "offered (× capacity)" in page and "40 (2.0×)" in page
    assert "1,000.0 (97% late)" in page


def test_without_an_slo_the_report_says_how_to_set_one(tmp_path: Path) -> None:
    write_openloop_run(tmp_path, slo_ms=None)
    page = build_report(tmp_path).report_path.read_text()
    assert "Sustained rate under the SLO" not in page
    assert "Highest offered rate each strategy kept up with" in page
    assert "Set slo_ms in the suite (for example slo_ms = 100)" in page
    # Kept up with, whatever the latency: sync's 40 req/s fell behind, its 10 did not.
    assert "coroutine sustained 160 req/s without falling behind" in page
    assert "SLO 100 ms" not in page


def test_mixed_run_keeps_closed_and_open_loop_apart(tmp_path: Path) -> None:
    write_openloop_run(tmp_path, closed=True)
    result = build_report(tmp_path)
    # The req/s ranking and the charts per users hold the closed-loop cell only.
    assert list(result.ranking["users"]) == [10]
    assert {"throughput", "openloop"} <= {c.name for c in result.charts}
    cells = table.cells_table(result.summary)
    heads = [h.text for h in cells.head]
    offered, corrected = heads.index("offered (× capacity)"), heads.index("p99 corr. (late sends)")
    assert heads[offered - 1] == "req/s" and heads[corrected - 1] == "p99"
    by_id = {r.cells[0].text: r for r in cells.rows}
    closed_row = by_id[cell("coroutine", users=10).cell_id]
    assert closed_row.cells[offered].text == "" and closed_row.cells[corrected].text == ""
    assert by_id[_open("coroutine", 160.0).cell_id].cells[offered].text == "160 (0.16×)"
    text = result.table_text
    assert "offered" in text and "p99 corr." in text
