"""analysis.synthetic at any size: the 50-cell grid first, unchanged, then the grid on the
other loop and as further repeats, every cell id distinct (the full suite's 2,877 cells)."""

from __future__ import annotations

from pathlib import Path

from analysis import aggregate
from analysis.load import load_run
from analysis.synthetic import (
    LOOPS,
    SCENARIOS,
    USERS,
    VARIANTS,
    synthetic_cells,
    write_synthetic_run,
)

GRID = len(SCENARIOS) * len(VARIANTS) * len(USERS)


def test_the_first_grid_is_one_loop_and_one_repeat_and_the_rest_follow_it() -> None:
    cells = synthetic_cells(2877)
    assert len(cells) == 2877
    assert len({c.cell_id for c in cells}) == 2877
    first = cells[:GRID]
    assert {(c.loop, c.repeat) for c in first} == {(LOOPS[0], 1)}
    assert {(c.scenario, c.strategy, c.users) for c in first} == {
        (s, v, u) for s, _ in SCENARIOS for v in VARIANTS for u in USERS
    }
    assert synthetic_cells(GRID) == first
    assert {(c.loop, c.repeat) for c in cells[GRID : 2 * GRID]} == {(LOOPS[1], 1)}
    assert {(c.loop, c.repeat) for c in cells[2 * GRID : 3 * GRID]} == {(LOOPS[0], 2)}
    assert max(c.repeat for c in cells) == -(-2877 // (GRID * len(LOOPS)))


def test_a_run_past_one_grid_loads_with_its_repeats(tmp_path: Path) -> None:
    count = 2 * GRID * len(LOOPS) + 3
    write_synthetic_run(tmp_path / "run", cells=count, requests=count * 50)
    run = load_run(tmp_path / "run")
    assert list(run.cells["cell_id"]) == [c.cell_id for c in synthetic_cells(count)]
    assert run.run.settings.repeats == 3
    assert all(r.status == "ok" for r in run.records.values())


def test_a_model_run_reads_as_a_healthy_suite(tmp_path: Path) -> None:
    """By default every cell serves 85-95 % of its bound for one shared window, its count its
    rate's share and its latency Little's law's: the report calls every cell valid, none
    generator-limited, and the run holds exactly the requests asked for."""
    requests = 60_000
    write_synthetic_run(tmp_path / "run", cells=GRID, requests=requests)
    run = load_run(tmp_path / "run")
    summary = aggregate.build_summary(run.cells, run.cell_requests, "run")
    assert summary["requests"].sum() == requests
    assert summary["valid"].all() and not summary["generator_limited"].any()
    # Measured from the rows: a cell of a dozen requests (4 req/s in a 3 s window) reads a
    # few per cent off its draw either way, still inside the bound's tolerance (valid above).
    assert summary["efficiency"].between(0.75, 1.1).all(), summary["efficiency"].describe()
    assert summary["efficiency"].median() < 0.96
    windows = summary["duration_s"]
    assert windows.max() - windows.min() < 1e-6 * windows.max()
    little_ms = summary["users"] / summary["rps"] * 1000
    assert (summary["mean_ms"] / little_ms).between(0.85, 1.15).all()
    # The busiest cell gets the most requests, the idlest the fewest (a suite's shape).
    assert summary.loc[summary["rps"].idxmax(), "requests"] == summary["requests"].max()
    assert summary.loc[summary["rps"].idxmin(), "requests"] == summary["requests"].min()
