"""The one-sentence chart readings, on a small run whose answers are known by hand."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from analysis import aggregate
from analysis.figures.charts import ChartInputs
from analysis.load import load_run
from analysis.readings import cost as readings_cost
from analysis.readings import stability as readings_stability
from analysis.readings import summary as readings
from record import io
from record.records import CellSpec
from tests.analysis.fixtures import T0, cell, steady_requests, write_cell, write_run

MP = cell("multiprocess", users=10)


def _summary(path: Path) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The summary, and the per-second window series of the cells the charts show (read
    cell by cell, as the report reads them)."""
    run = load_run(path)
    summary = aggregate.build_summary(run.cells, run.cell_requests, run.run_id)
    return summary, ChartInputs(run, summary, aggregate.ranking(summary)).windows


@pytest.fixture(scope="module")
def known(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, dict]:
    """Constant latencies, so every percentile is the latency; rates give exact req/s over
    the 2 s window. (variant, users, scenario params, req/s, latency ms, server CPU %)."""
    path = tmp_path_factory.mktemp("known")
    sleep, n1, n4 = {"ms": 50}, {"n": 1, "ms": 50}, {"n": 4, "ms": 50}
    specs = [
        ("sync", 1, "sleep", sleep, 19, 50, 50.0),
        ("sync", 10, "sleep", sleep, 19, 520, 5.0),
        ("coroutine", 1, "sleep", sleep, 18, 50, 50.0),
        ("coroutine", 10, "sleep", sleep, 180, 50, 80.0),
        ("threadpool", 10, "sleep", sleep, 40, 50, 10.0),
        ("multiprocess", 10, "sleep", sleep, 18, 50, 10.0),
        ("coroutine", 10, "fanout", n1, 180, 50, 50.0),
        ("coroutine", 10, "fanout", n4, 45, 200, 50.0),
        ("fanout", 10, "fanout", n1, 180, 50, 50.0),
        ("fanout", 10, "fanout", n4, 180, 50, 50.0),
    ]
    cells = [cell(v, users=u, scenario=s, params=p) for v, u, s, p, *_ in specs]
    write_run(path, cells)
    for c, (variant, users, *_, rate, latency, cpu) in zip(cells, specs, strict=True):
        reqs = steady_requests(rate, latency, T0 + 1, T0 + 3)
        if (variant, users) == ("coroutine", 1):
            # One slow request, completing when it would have: a tail 10x the median.
            last = reqs.index[-1]
            reqs.loc[last, "start"] -= 0.45
            reqs.loc[last, "latency_ms"] = 500.0
        write_cell(path, c, requests=reqs, server_cpu=cpu)
    return _summary(path)


def test_read_throughput(known: tuple[pd.DataFrame, dict]) -> None:
    summary, _ = known
    text = readings.read_throughput(summary, {MP.cell_id: 0.95})
    assert "sleep-ms50 at 10 users: coroutine 180 req/s, 10.0× multiprocess" in text
    assert "fanout-ms50-n4 at 10 users: fanout 180 req/s, 4.0× coroutine" in text
    assert "Efficiency against the bound ranged 0.25–0.95." in text
    assert text.endswith(
        " Far below their bound: threadpool on sleep-ms50 at 10 users (0.25), multiprocess on"
        " sleep-ms50 at 10 users (0.45: one process did 95% of the work, because kept-alive"
        " connections stay with the process that accepted them)."
    )
    # Without per-process CPU there is nothing to explain the forked cell with.
    assert "one process did" not in readings.read_throughput(summary)


def test_read_latency(known: tuple[pd.DataFrame, dict]) -> None:
    text = readings.read_latency(known[0])
    assert text.startswith("At the highest load, ")
    assert "fanout-ms50-n4: p99 from 50.0 ms (fanout) to 200.0 ms (coroutine)" in text
    assert "sleep-ms50: p99 from 50.0 ms (coroutine) to 520.0 ms (sync)." in text
    # One strategy valid at a workload's highest load: no spread between strategies to read,
    # with one cell or with its repeats.
    top = known[0]["users"] == known[0].groupby("scenario")["users"].transform("max")
    alone = known[0][~top | (known[0]["variant"] == "coroutine")]
    text = readings.read_latency(alone)
    assert "fanout-ms50-n4: p99 200.0 ms (coroutine, the only valid strategy)" in text
    assert "from 200.0 ms (coroutine) to 200.0 ms" not in text
    repeat = alone[alone["variant"] == "coroutine"].assign(
        cell_id=lambda f: f["cell_id"] + "-again", p99_ms=lambda f: f["p99_ms"] + 10.0
    )
    text = readings.read_latency(pd.concat([alone, repeat], ignore_index=True))
    assert "fanout-ms50-n4: p99 200.0–210.0 ms (coroutine, the only valid strategy)" in text


def test_read_spectrum(known: tuple[pd.DataFrame, dict]) -> None:
    assert readings.read_spectrum(known[0]) == (
        "The heaviest tail is coroutine on sleep-ms50 at 1 users: p99.9 is 10.0× its median."
    )


def test_read_series_of_steady_cells(known: tuple[pd.DataFrame, dict]) -> None:
    assert readings.read_series(*known) == (
        "After warm-up, per-second throughput varied by at most 0% (coefficient of variation)"
        " in the cells shown."
    )


def test_read_cpu(known: tuple[pd.DataFrame, dict]) -> None:
    assert readings.read_cpu(known[0]) == (
        "Busiest: coroutine on sleep-ms50 at 10 users used 80% of a core; sync on sleep-ms50"
        " used only 5% at 10 users (waiting, not computing)."
    )


def test_read_fanout(known: tuple[pd.DataFrame, dict]) -> None:
    assert readings.read_fanout(known[0]) == (
        "With 4 calls per request, the best concurrent median is 50.0 ms against 200.0 ms for"
        " the best sequential strategy."
    )


def test_read_ranking(known: tuple[pd.DataFrame, dict]) -> None:
    text = readings.read_ranking(aggregate.ranking(known[0]))
    assert text.startswith("Best valid strategy per workload: ")
    assert "fanout-ms50-n4 → fanout (180 req/s)" in text
    assert "sleep-ms50 → coroutine (180 req/s)" in text


def test_readings_without_a_valid_cell(known: tuple[pd.DataFrame, dict]) -> None:
    summary, _ = known
    none = summary.assign(valid=False)
    for read in (readings.read_throughput, readings.read_latency, readings.read_spectrum):
        assert read(none) == "No valid cell to read."
    assert readings.read_cpu(none) == "No CPU samples to read."
    assert readings.read_fanout(none) == "No valid fan-out cell."
    assert readings.read_ranking(aggregate.ranking(none)) == "No valid cell, so no ranking."
    assert readings.read_series(summary, {}) == (
        "Too few whole seconds in the window to judge stability."
    )


def _stability(path: Path, *, gap: bool) -> float:
    """read_series's figure for one 100 req/s cell with a 4 s window, with or without an
    idle third second."""
    c = cell("coroutine")
    write_run(path, [c])
    reqs = steady_requests(100, 50, T0 + 1, T0 + 5)
    if gap:
        done = reqs["start"] + reqs["latency_ms"] / 1000
        reqs = reqs[(done < T0 + 3) | (done >= T0 + 4)]
    write_cell(path, c, requests=reqs, window=(T0 + 1, T0 + 5))
    text = readings.read_series(*_summary(path))
    found = re.search(r"varied by at most (\d+)%", text)
    assert found, text
    return int(found.group(1)) / 100


def test_an_idle_second_lowers_the_reported_stability(tmp_path: Path) -> None:
    steady = _stability(tmp_path / "steady", gap=False)
    stalled = _stability(tmp_path / "stalled", gap=True)
    assert steady == 0.0
    # Seconds of 100, 100, 0, 100: mean 75, sample standard deviation 50.
    assert stalled == pytest.approx(0.67)
    assert stalled > steady


def _patch(run_dir: Path, c: CellSpec, **fields: object) -> None:
    """Set cell.json fields the shared fixture writer does not take."""
    path = run_dir / "cells" / c.cell_id / "cell.json"
    io.write_json(path, {**json.loads(path.read_text()), **fields})


@pytest.fixture(scope="module")
def loops(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, dict]:
    """hello on both loops (uvloop generator-limited), a forking server whose first process
    did all the work, a stalled cell and a failed one. (variant, loop, scenario, users,
    server CPU %: at 100 req/s, 10 × the CPU ms per request)."""
    path = tmp_path_factory.mktemp("loops")
    hello, sleep = ("hello", {}), ("sleep", {"ms": 50})
    specs = [
        ("coroutine", "asyncio", hello, 1, 3.0),
        ("coroutine", "asyncio", hello, 10, 2.7),
        ("coroutine", "uvloop", hello, 10, 2.1),
        ("coroutine", "uvloop", hello, 50, 1.0),  # above the level both loops reached
        ("multiprocess", "asyncio", sleep, 10, 1.8),  # at 36 req/s: two processes, 50 ms
        ("coroutine", "asyncio", sleep, 10, 5.0),
    ]
    cells = [cell(v, users=u, scenario=s, params=p, loop=lo) for v, lo, (s, p), u, _ in specs]
    failed = cell("sync", users=10, scenario="hello", params={}, loop="uvloop")
    write_run(path, [*cells, failed])
    for c, (*_, cpu) in zip(cells, specs, strict=True):
        reqs = steady_requests(36 if c.variant == "multiprocess" else 100, 5, T0 + 1, T0 + 3)
        if c.variant == "coroutine" and c.scenario == "sleep":
            reqs = steady_requests(200, 50, T0 + 1, T0 + 2)  # then a second with nothing
        write_cell(path, c, requests=reqs, server_cpu=cpu)
        core = 80.0 if c.loop == "uvloop" else 20.0
        _patch(path, c, loadgen_core_pct=core)
    write_cell(path, failed, requests=None, window=None, status="failed", reason="boom")
    _patch(path, cells[4], server_shares={"7": 0.999, "8": 0.001})
    run = load_run(path)
    shares = {cid: r.server_shares for cid, r in run.records.items()}
    return aggregate.build_summary(run.cells, run.cell_requests, run.run_id), shares


def test_read_cost_compares_loops_at_the_level_both_reached(loops: tuple) -> None:
    table = readings_cost.cost_table(loops[0])
    assert "sync" not in set(table["variant"])  # failed: measured nothing
    assert readings_cost.read_cost(table) == (
        "coroutine on hello: uvloop 0.21 ms CPU per request vs asyncio 0.27 (−22 %)."
        " Throughput is invalid or generator-limited for coroutine on hello; CPU per request"
        " still compares there (the server paid it, whoever set the pace)."
    )


def test_read_cost_without_both_loops_names_cheapest_and_dearest(loops: tuple) -> None:
    table = readings_cost.cost_table(loops[0])
    one = table[(table["loop"] == "asyncio") & (table["scenario"] == "sleep-ms50")]
    assert readings_cost.read_cost(one) == (
        "sleep-ms50: every strategy about 0.5 ms CPU per request."
    )


def test_stability_names_unstable_cells_and_process_shares(loops: tuple) -> None:
    summary, shares = loops
    items = readings_stability.stability_items(summary, shares)
    assert items[0].startswith("Not stable (95 % interval of req/s wider than ±10 %): ")
    assert "coroutine sleep-ms50 (asyncio) u10 (±" in items[0]
    assert "SO_REUSEPORT" in items[1] and "kept-alive connection" in items[1]
    assert items[2:] == ["multiprocess sleep-ms50 (asyncio): u10: 100 % / 0 %"]
    even = {cid: {"7": 0.55, "8": 0.45} if v else v for cid, v in shares.items()}
    items = readings_stability.stability_items(summary, even)
    assert items[1] == "Share of the server's CPU per process, busiest first."
    assert items[2:] == ["multiprocess sleep-ms50 (asyncio): u10: 55 % / 45 %"]


def test_readings_name_the_loop_when_a_run_has_both(loops: tuple) -> None:
    summary, _ = loops
    assert "hello (uvloop) at 50 users" in readings.read_throughput(summary)
    assert "hello (asyncio): p99" in readings.read_latency(summary)
    assert "hello (uvloop) → coroutine" in readings.read_ranking(aggregate.ranking(summary))
