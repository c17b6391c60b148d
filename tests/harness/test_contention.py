"""Other processes on the cell's cores: measured per cell (foreign CPU), flagged contended,
left out of the ranking, never blamed on the code by compare, said by the preflight.

A busy loop pinned to the server's core guarantees contention whatever else the machine does,
so those checks hold on a busy CI runner. That a quiet cell is *not* flagged holds only on a
quiet machine: that half is in the slow series (`make test-reliability` runs it alone)."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from analysis import aggregate
from analysis.load import load_run
from analysis.validity import CONTENDED_PCT
from harness import outcome, placements, preflight
from record.window import Window
from tests.conftest import run_bench

SUITE = """
name = "busy"
duration_s = 2
warmup_s = 0.5
repeats = {repeats}
variants = ["coroutine"]
users = [4]

[[scenarios]]
name = "cpu"
params = {{ n = 2000 }}
"""


# Busy loops on the server's core: the scheduler shares a core among what runs on it, so
# with two of them beside a CPU-bound server they take about two thirds of it (one took
# 21-27 % beside a busy test run, near the 15 % flag).
HOGS = 2


@contextmanager
def hog(core: int) -> Iterator[None]:
    """HOGS busy loops pinned to one core until the block ends; they die with this test too."""
    code = f"import os\nos.sched_setaffinity(0, {{{core}}})\nwhile True: pass\n"
    children = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(HOGS)]
    try:
        yield
    finally:
        for child in children:
            child.kill()
            child.wait()


def _samples(rows: list[tuple[float, str, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [(t, role, pid, cpu, 0) for t, role, pid, cpu in rows],
        columns=["t", "role", "pid", "cpu_pct", "rss_bytes"],
    )


WINDOW = Window(10.0, 12.0)


def test_foreign_cpu_is_what_the_cell_did_not_use_on_its_cores() -> None:
    # Split: core 0 the server's, core 1 the generator's. Core 0 at 90 % with the server at
    # 40 %: 50 % foreign. Core 1 at 35 % with Locust at 30 %: 5 %, less the harness's 2 % in
    # proportion to each group's foreign time.
    rows = []
    for t in (10.5, 11.0, 11.5):
        rows += [
            (t, "core", 0, 90.0),
            (t, "core", 1, 35.0),
            (t, "server", 7, 40.0),
            (t, "locust", 8, 30.0),
            (t, "harness", 9, 2.0),
        ]
    rows += [(20.0, "core", 0, 100.0)]  # outside the window: not counted
    server, generator = outcome.foreign_cpu(_samples(rows), WINDOW, (0,), (1,))
    assert server == pytest.approx(50 - 2 * 50 / 55)
    assert generator == pytest.approx(5 - 2 * 5 / 55)
    # Shared: every process on every core; two cores at 60 % with 100 % of own work.
    shared = [(10.5, "core", 0, 60.0), (10.5, "core", 1, 60.0), (10.5, "server", 7, 100.0)]
    assert outcome.foreign_cpu(_samples(shared), WINDOW, (0, 1), (0, 1)) == (10.0, 10.0)
    # Own processes busier than the sampled cores (samples are not simultaneous): never < 0.
    over = [(10.5, "core", 0, 30.0), (10.5, "core", 1, 30.0), (10.5, "server", 7, 50.0)]
    assert outcome.foreign_cpu(_samples(over), WINDOW, (0,), (1,))[0] == 0.0
    assert all(math.isnan(v) for v in outcome.foreign_cpu(_samples([]), WINDOW, (0,), (1,)))


def _run(tmp_path: Path, name: str, repeats: int) -> Path:
    (tmp_path / f"{name}.toml").write_text(SUITE.format(repeats=repeats))
    out = tmp_path / name
    result = run_bench("run", str(tmp_path / f"{name}.toml"), "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    (run_dir,) = out.iterdir()
    return run_dir


def test_a_hog_on_the_servers_core_makes_the_cells_contended(tmp_path: Path) -> None:
    """Contended, with the figure in the note; not ranked; and compared with a run of the
    same cells, never a verdict on the code (and never the regression exit)."""
    server_core = placements.choose("split").server_cpus[0]
    base = _run(tmp_path, "base", repeats=3)
    with hog(server_core):
        busy = _run(tmp_path, "busy", repeats=3)
    run = load_run(busy)
    summary = aggregate.build_summary(run.cells, run.cell_requests, run.run_id)
    assert summary["contended"].all(), summary[["foreign_cpu_server", "notes"]]
    # The hogs' share of the server's core: what the flag is about (the bar is the flag's own).
    assert (summary["foreign_cpu_server"] > CONTENDED_PCT).all(), summary["foreign_cpu_server"]
    assert summary["notes"].str.contains("contended: other processes used").all()
    assert aggregate.ranking(summary).empty  # valid cells, but none ranked
    assert summary["valid"].all()
    result = run_bench("compare", str(base), str(busy), "--fail-on-regression", "5")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "inconclusive (machine busy)" in result.stdout
    report = run_bench("report", str(busy), "--quiet")
    assert "machine busy: 3 of 3 measured cells contended" in report.stdout


def test_the_preflight_says_when_the_machine_is_not_quiet() -> None:
    place = placements.choose("split")
    with hog(place.server_cpus[0]):
        found = preflight.look(place)
    assert found.others_pct > 50
    assert not preflight.quiet(found)
    assert preflight.line(found).startswith("preflight: NOT QUIET")


@pytest.mark.slow
def test_a_quiet_machine_passes_the_preflight_and_its_cells_are_not_contended(
    tmp_path: Path,
) -> None:
    """Only on a quiet machine (the slow series runs one test at a time)."""
    found = preflight.look(placements.choose("split"))
    assert preflight.quiet(found), preflight.line(found)
    run = load_run(_run(tmp_path, "quiet", repeats=1))
    summary = aggregate.build_summary(run.cells, run.cell_requests, run.run_id)
    assert not summary["contended"].any(), summary[["foreign_cpu_server", "notes"]]
    assert (summary["foreign_cpu_server"] < 10).all()
