"""analysis.synthetic at any size: the 50-cell grid first, unchanged, then the grid on the
other loop and as further repeats, every cell id distinct (the full suite's 2,877 cells)."""

from __future__ import annotations

from pathlib import Path

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
