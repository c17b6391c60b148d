"""compare: the unit of replication is a repeat; the machine's change is told from the code's.

Most tests build summary frames in memory (compare_stats takes frames, no files) with known
noise: per-repeat lognormal noise, a per-run drift of the machine that moves every CPU-bound
cell and shows in the run's loop timings, and a small per-run, per-cell noise that repeats
cannot see. The last tests go through the files and the CLI.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.compare import runs as compare
from analysis.compare.stats import NOT_ENOUGH, compare_tables
from tests.analysis.fixtures import T0, cell, steady_requests, write_cell, write_run
from tests.conftest import run_bench

LOOP_S = 0.054  # the speed loop's time on the base machine
CPU, WAIT = ("cpu", "hello", "json"), ("sleep", "upstream", "fanout")


def configs(count: int) -> list[tuple[str, str, float]]:
    """count configurations (id, scenario, typical req/s), half CPU-bound, half waiting."""
    scenarios = [CPU[i % 3] if i % 2 else WAIT[i % 3] for i in range(count)]
    return [(f"v{i}-asyncio-{s}-u10", s, 100.0 * (1 + i % 7)) for i, s in enumerate(scenarios)]


def synthetic_run(
    rng: np.random.Generator,
    cells: list[tuple[str, str, float]],
    *,
    repeats: int = 3,
    noise: float = 0.06,
    drift_sd: float = 0.15,
    cell_sd: float = 0.02,
    shift: dict[str, float] | None = None,
    drift: float | None = None,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """A summary frame and loop timings of one run. drift (log of the loop time ratio, drawn
    when None) slows every CPU-bound cell's req/s and lengthens its latency; shift multiplies
    a configuration's req/s (and divides its latency) as a change of the code would."""
    shift = shift or {}
    drift = float(rng.normal(0, drift_sd)) if drift is None else drift
    rows = []
    for config, scenario, rps in cells:
        machine = drift if scenario in CPU else 0.0
        level = np.log(rps * shift.get(config, 1.0)) - machine + rng.normal(0, cell_sd)
        for r in range(1, repeats + 1):
            log_rps = level + rng.normal(0, noise)
            latency = 1000.0 * 10 / np.exp(log_rps)  # Little's law with 10 users
            rows.append(
                {
                    "cell_id": f"{config}-r{r}",
                    "config_id": config,
                    "contended": False,
                    "scenario_name": scenario,
                    "valid": True,
                    "threads": 8,
                    "processes": 1,
                    "rps": float(np.exp(log_rps)),
                    "p50_ms": latency,
                    "p99_ms": latency * float(np.exp(0.5 + rng.normal(0, noise))),
                }
            )
    speed = tuple(LOOP_S * float(np.exp(drift + rng.normal(0, 0.01))) for _ in ("start", "end"))
    return pd.DataFrame(rows), speed


def compare_pair(
    rng: np.random.Generator, cells: list[tuple[str, str, float]], **kwargs: object
) -> pd.DataFrame:
    base_kwargs = {k: v for k, v in kwargs.items() if k != "shift"}
    base, base_speed = synthetic_run(rng, cells, **base_kwargs)
    new, new_speed = synthetic_run(rng, cells, **kwargs)
    return compare_tables(base, new, base_speed, new_speed).rows


def flagged(rows: pd.DataFrame, metric: str = "rps") -> pd.Series:
    """Cells said to have changed because of the code (the machine's changes excluded)."""
    return rows[f"{metric}_cause"].isin(["code", "settings"])


def test_same_suite_twice_flags_few_cells() -> None:
    """A/A: 10 pairs of runs of 200 configurations, same code, 10 % noise per repeat, the
    machine drifting between runs (15 % SD) on CPU-bound cells and in the loop timings."""
    rng = np.random.default_rng(2024)
    cells = configs(200)
    rps, p99 = [], []
    for _ in range(10):
        rows = compare_pair(rng, cells, noise=0.10)
        assert (rows["rps_verdict"] != NOT_ENOUGH).all()
        rps.append(flagged(rows).mean())
        p99.append(flagged(rows, "p99").mean())
    assert max(rps) <= 0.08 and max(p99) <= 0.08, (rps, p99)
    assert np.mean(rps) <= 0.055 and np.mean(p99) <= 0.055, (rps, p99)


def test_a_twenty_percent_drop_with_three_repeats_is_found() -> None:
    """100 trials, each a pair of 20-configuration runs, 3 repeats a side, 6 % noise per
    repeat plus machine drift; one configuration (CPU-bound and waiting ones in turn) loses
    20 % of its req/s. (At 10 % noise a 20 % drop cannot be found in 90 % of trials by any
    test at 5 % with 3 repeats a side: even a known variance would give 78 %.)"""
    rng = np.random.default_rng(7)
    cells = configs(20)
    found = others = 0
    for trial in range(100):
        target = cells[trial % len(cells)][0]
        rows = compare_pair(rng, cells, shift={target: 0.8}).set_index("config")
        found += rows.loc[target, "rps_verdict"] == "slower (code)"
        others += int(flagged(rows.drop(target)).sum())
    assert found >= 90
    assert others <= 0.06 * 100 * 19


def test_one_repeat_a_side_is_never_judged() -> None:
    rng = np.random.default_rng(3)
    rows = compare_pair(rng, configs(20), repeats=1, shift={"v0-asyncio-sleep-u10": 0.5})
    assert set(rows["rps_verdict"]) == {NOT_ENOUGH}
    assert set(rows["p99_verdict"]) == {NOT_ENOUGH}
    assert rows["rps_ci_lo"].isna().all()
    assert rows.loc[0, "rps_change"] == pytest.approx(-0.5, abs=0.3)  # still shown
    comparison = compare.Comparison("a", "b", rows)
    assert comparison.regressions(1) == []
    text = compare.format_comparison(comparison)
    assert "slower (" not in text and "faster (" not in text
    assert f"20 {NOT_ENOUGH}" in text


def test_two_repeats_are_not_enough_either() -> None:
    rng = np.random.default_rng(4)
    rows = compare_pair(rng, configs(20), repeats=2, shift={"v0-asyncio-sleep-u10": 0.5})
    assert set(rows["rps_verdict"]) == {NOT_ENOUGH}


def test_a_change_that_matches_the_machine_is_the_machine() -> None:
    """The new run's machine is 25 % slower (loop time × 1.25): every CPU-bound cell loses
    20 % of its req/s, and that is the machine's doing; one CPU-bound cell loses 40 %, half
    of it the code's. Waiting cells do not move."""
    rng = np.random.default_rng(5)
    cells = configs(20)
    slow = math.log(1.25)
    base, base_speed = synthetic_run(rng, cells, noise=0.02, cell_sd=0.005, drift=0.0)
    new, new_speed = synthetic_run(
        rng, cells, noise=0.02, cell_sd=0.005, drift=slow, shift={"v1-asyncio-hello-u10": 0.75}
    )
    result = compare_tables(base, new, base_speed, new_speed)
    rows = result.rows.set_index("config")
    cpu = rows[rows["cpu_bound"]].drop("v1-asyncio-hello-u10")
    assert set(cpu["rps_verdict"]) == {"slower (machine)"}
    assert set(cpu["p99_verdict"]) == {"slower (machine)"}
    assert (cpu["rps_raw_change"] < -0.15).all() and (cpu["rps_change"].abs() < 0.1).all()
    assert rows.loc["v1-asyncio-hello-u10", "rps_verdict"] == "slower (code)"
    assert rows.loc["v1-asyncio-hello-u10", "rps_change"] == pytest.approx(-0.25, abs=0.07)
    assert set(rows[~rows["cpu_bound"]]["rps_verdict"]) <= {"same"}
    assert result.machine.source == "speed"
    assert result.machine.log_ratio == pytest.approx(slow, abs=0.03)
    comparison = compare.Comparison("a", "b", result.rows, machine=result.machine)
    assert comparison.regressions(10) == ["v1-asyncio-hello-u10"]
    assert "machine speed: new run 25% slower than base" in compare.format_comparison(comparison)


def test_a_change_common_to_all_cpu_cells_on_a_steady_machine_is_inconclusive() -> None:
    """The loop saw no change, yet every CPU-bound cell lost 20 %: a slower Tornado, or a
    slowdown the two readings missed; no reading can tell, so no verdict blames the code
    and the gate does not fail. The waiting cells are still judged."""
    rng = np.random.default_rng(6)
    cells = configs(20)
    shift = {c: 0.8 for c, scenario, _ in cells if scenario in CPU}
    base, base_speed = synthetic_run(rng, cells, noise=0.02, cell_sd=0.005, drift=0.0)
    new, new_speed = synthetic_run(rng, cells, noise=0.02, cell_sd=0.005, drift=0.0, shift=shift)
    result = compare_tables(base, new, base_speed, new_speed)
    rows = result.rows
    assert set(rows[rows["cpu_bound"]]["rps_verdict"]) == {"inconclusive (machine?)"}
    assert not rows[~rows["cpu_bound"]]["rps_verdict"].str.startswith("inconclusive").any()
    assert result.common.found and math.expm1(result.common.log_change) == pytest.approx(
        -0.2, abs=0.03
    )
    comparison = compare.Comparison("a", "b", rows, machine=result.machine, common=result.common)
    assert not set(comparison.regressions(1)) & set(rows[rows["cpu_bound"]]["config"])
    text = compare.format_comparison(comparison)
    assert "together (median of 10) beyond what the speed readings explain" in text
    assert "10 inconclusive (machine?)" in text


def test_without_loop_timings_the_cpu_cells_common_drift_stands_in() -> None:
    rng = np.random.default_rng(8)
    cells = configs(20)
    base, _ = synthetic_run(rng, cells, noise=0.02, cell_sd=0.005, drift=0.0)
    new, _ = synthetic_run(rng, cells, noise=0.02, cell_sd=0.005, drift=math.log(1.25))
    result = compare_tables(base, new, (), ())
    assert result.machine.source == "drift"
    rows = result.rows
    # 10 CPU-bound cells lost 20 % together: the machine's (one may still come out as the
    # code's at 5 %: this seed has one at -5.6 % once the drift is removed)
    assert (rows[rows["cpu_bound"]]["rps_verdict"] == "slower (machine)").sum() >= 9
    assert set(rows[~rows["cpu_bound"]]["rps_verdict"]) == {"same"}
    comparison = compare.Comparison(
        "a", "b", rows, machine=result.machine, drift=result.drift, speed_missing=("base", "new")
    )
    text = compare.format_comparison(comparison)
    assert "not measured in either run" in text and "taken as the machine" in text


def test_a_threadpool_cut_in_half_is_found_and_blamed_on_the_settings() -> None:
    rng = np.random.default_rng(9)
    cells = configs(20)
    base, speed = synthetic_run(rng, cells, drift=0.0)
    new, _ = synthetic_run(rng, cells, drift=0.0, shift={"v0-asyncio-sleep-u10": 0.5})
    new.loc[new["cell_id"].str.startswith("v0-"), "threads"] = 4
    rows = compare_tables(base, new, speed, speed).rows.set_index("config")
    assert rows.loc["v0-asyncio-sleep-u10", "rps_verdict"] == "slower (settings)"
    ci = rows.loc["v0-asyncio-sleep-u10", ["rps_ci_lo", "rps_ci_hi"]]
    assert ci["rps_ci_lo"] < -0.5 < ci["rps_ci_hi"]


def test_invalid_repeats_do_not_count() -> None:
    rng = np.random.default_rng(10)
    cells = configs(20)
    base, speed = synthetic_run(rng, cells, drift=0.0)
    new, _ = synthetic_run(rng, cells, drift=0.0)
    new.loc[new["cell_id"] == "v0-asyncio-sleep-u10-r1", "valid"] = False
    rows = compare_tables(base, new, speed, speed).rows.set_index("config")
    assert rows.loc["v0-asyncio-sleep-u10", "new_n"] == 2
    assert rows.loc["v0-asyncio-sleep-u10", "rps_verdict"] == NOT_ENOUGH
    assert not rows.loc["v0-asyncio-sleep-u10", "valid"]


def write_repeats(
    path: Path, rates: list[float], latencies: list[float], speed: dict[str, float] | None
) -> None:
    """A run of one waiting configuration (coroutine, /sleep?ms=50, 10 users; its bound is
    200 req/s) measured once per rate, with the loop timings when given."""
    cells = [cell("coroutine", repeat=r + 1) for r in range(len(rates))]
    write_run(path, cells)
    if speed is not None:
        meta = json.loads((path / "run.json").read_text())
        meta["speed"] = speed
        (path / "run.json").write_text(json.dumps(meta))
    for c, rate, latency in zip(cells, rates, latencies, strict=True):
        write_cell(path, c, requests=steady_requests(rate, latency, T0, T0 + 4))


# As a run written before schema 8 stores its loop timings.
SPEED = {"start_s": 0.054, "end_s": 0.055}


def test_fail_on_regression_fails_only_on_a_significant_drop_beyond_pct(tmp_path: Path) -> None:
    write_repeats(tmp_path / "base", [100, 104, 97], [50, 52, 49], SPEED)
    write_repeats(tmp_path / "new", [70, 73, 68], [71, 74, 70], SPEED)
    args = ("compare", str(tmp_path / "base"), str(tmp_path / "new"), "--fail-on-regression")
    gate = run_bench(*args, "10")
    assert gate.returncode == 3, gate.stderr
    assert "slower by more than 10%" in gate.stderr
    assert "coroutine-asyncio-sleep-ms50-u10" in gate.stderr
    assert "slower (code)" in gate.stdout and "n=3" in gate.stdout
    assert "machine speed: new run as fast as base" in gate.stdout
    lenient = run_bench(*args, "40")  # a 30 % drop, significant, but within 40 %
    assert lenient.returncode == 0, lenient.stderr
    assert "slower (code)" in lenient.stdout


def test_one_repeat_a_side_never_fails_the_gate(tmp_path: Path) -> None:
    write_repeats(tmp_path / "base", [100], [50], None)
    write_repeats(tmp_path / "new", [50], [100], None)
    result = compare.compare_runs(tmp_path / "base", tmp_path / "new")
    assert list(result.rows["rps_verdict"]) == [NOT_ENOUGH]
    assert result.rows["rps_change"].iloc[0] == pytest.approx(-0.5, abs=0.02)
    assert result.regressions(10) == []
    text = compare.format_comparison(result)
    assert "machine speed: not measured in either run" in text
    assert "slower (" not in text


def test_a_significant_drop_smaller_than_pct_is_not_a_regression(tmp_path: Path) -> None:
    write_repeats(tmp_path / "base", [100, 101, 99], [50, 50, 50], SPEED)
    write_repeats(tmp_path / "new", [92, 93, 91], [50, 50, 50], SPEED)
    result = compare.compare_runs(tmp_path / "base", tmp_path / "new")
    assert list(result.rows["rps_verdict"]) == ["slower (code)"]
    assert result.regressions(5) == ["coroutine-asyncio-sleep-ms50-u10"]
    assert result.regressions(10) == []


def test_loop_readings_that_disagree_within_a_run_are_not_trusted() -> None:
    """A machine that changed speed during a run (0.044 s at its start, 0.080 s at its end,
    under a passing load) cannot be summed up by two readings: the cells' common movement
    stands in, so unchanged CPU-bound cells are not "corrected" into a change."""
    from analysis.compare.stats import speed_machine

    steady = (0.054, 0.056)
    assert speed_machine(steady, steady) is not None
    assert speed_machine((0.044, 0.080), steady) is None


def drifting_run(
    rng: np.random.Generator,
    cells: list[tuple[str, str, float]],
    *,
    slowdown: float,
    wander: float = 0.05,
    reading_sd: float = 0.01,
    noise: float = 0.06,
    shift: dict[str, float] | None = None,
) -> tuple[pd.DataFrame, dict[str, float], dict[str, tuple[float, float]]]:
    """A run whose machine is steady at its start and end (the two readings agree) but slower
    while its CPU-bound cells ran: each CPU-bound repeat by exp(slowdown + N(0, wander)), as a
    passing load that comes and goes would. Also the loop readings next to each cell (before
    and after it), which follow that slowdown up to reading_sd."""
    frame, speed = synthetic_run(rng, cells, noise=noise, drift=0.0, shift=shift)
    readings = {}
    for i, row in frame.iterrows():
        here = slowdown + rng.normal(0, wander) if row["scenario_name"] in CPU else 0.0
        frame.loc[i, "rps"] = row["rps"] * math.exp(-here)
        frame.loc[i, ["p50_ms", "p99_ms"]] = row[["p50_ms", "p99_ms"]] * math.exp(here)
        before, after = (LOOP_S * math.exp(here + rng.normal(0, reading_sd)) for _ in "ab")
        readings[str(row["cell_id"])] = (before, after)
    return frame, speed, readings


# The suite of a real A/A pair that once failed the gate: threadpool and coroutine on
# /sleep?ms=20 at 10 users and /cpu?n=20000 at 2 users, 3 repeats each.
SMALL = [
    ("threadpool-asyncio-sleep-ms20-u10", "sleep", 400.0),
    ("coroutine-asyncio-sleep-ms20-u10", "sleep", 450.0),
    ("threadpool-asyncio-cpu-n20000-u2", "cpu", 60.0),
    ("coroutine-asyncio-cpu-n20000-u2", "cpu", 65.0),
]


def test_a_slowdown_the_two_readings_missed_is_inconclusive_not_the_code() -> None:
    """Both CPU-bound cells lost about 20 % together while the start and end readings agree
    (the real A/A pair: -18 % against +4 %): inconclusive (machine?), no regression."""
    rng = np.random.default_rng(11)
    base, base_speed, _ = drifting_run(rng, SMALL, slowdown=0.0, wander=0.01)
    new, new_speed, _ = drifting_run(rng, SMALL, slowdown=math.log(1.25), wander=0.01)
    result = compare_tables(base, new, base_speed, new_speed)
    rows = result.rows.set_index("config")
    assert result.machine.source == "speed" and result.common.found
    cpu = rows[rows["cpu_bound"]]["rps_verdict"]
    assert set(cpu) <= {"inconclusive (machine?)", "same"}
    assert "inconclusive (machine?)" in set(cpu)
    assert set(rows[~rows["cpu_bound"]]["rps_verdict"]) == {"same"}
    comparison = compare.Comparison("a", "b", result.rows, machine=result.machine)
    assert comparison.regressions(10) == []


def test_readings_next_to_each_cell_follow_the_drift() -> None:
    """The same slowdown, now with the readings next to each cell: the CPU-bound cells are
    corrected by their own, so none is left to blame, on the code or as inconclusive."""
    rng = np.random.default_rng(12)
    cells = configs(20)
    base, base_speed, base_cells = drifting_run(rng, cells, slowdown=0.0)
    new, new_speed, new_cells = drifting_run(rng, cells, slowdown=math.log(1.3))
    result = compare_tables(base, new, base_speed, new_speed, base_cells, new_cells)
    rows = result.rows
    cpu = rows[rows["cpu_bound"]]
    assert result.cell_speed == len(cpu) == 10
    assert not result.common.found
    assert (cpu["rps_raw_change"] < -0.1).all()
    assert (cpu["rps_change"].abs() < 0.12).all()
    assert not cpu["rps_verdict"].isin(["slower (code)", "inconclusive (machine?)"]).any()
    assert (cpu["rps_verdict"] == "slower (machine)").sum() >= 8
    # Without the readings the same pair is inconclusive: the readings are what decide.
    blind = compare_tables(base, new, base_speed, new_speed).rows
    assert (blind[blind["cpu_bound"]]["rps_verdict"] == "inconclusive (machine?)").sum() >= 8


def test_a_cpu_cell_that_drops_beyond_the_drift_is_still_the_code() -> None:
    """With readings: one CPU-bound configuration loses 40 % of its own on top of a 25 %
    slowdown of the machine: slower (code), by about 40 %. Without readings: it stands out
    from the common movement (the others lost 20 %), so it is still the code."""
    rng = np.random.default_rng(13)
    cells = configs(20)
    target = "v1-asyncio-hello-u10"
    base, base_speed, base_cells = drifting_run(rng, cells, slowdown=0.0, noise=0.03)
    new, new_speed, new_cells = drifting_run(
        rng, cells, slowdown=math.log(1.25), noise=0.03, shift={target: 0.6}
    )
    read = compare_tables(base, new, base_speed, new_speed, base_cells, new_cells)
    rows = read.rows.set_index("config")
    assert rows.loc[target, "rps_verdict"] == "slower (code)"
    assert rows.loc[target, "rps_change"] == pytest.approx(-0.4, abs=0.08)
    blind = compare_tables(base, new, base_speed, new_speed)
    rows = blind.rows.set_index("config")
    assert blind.common.found
    assert rows.loc[target, "rps_verdict"] == "slower (code)"
    others = rows[rows["cpu_bound"]].drop(target)
    assert (others["rps_verdict"] == "inconclusive (machine?)").sum() >= 8


def test_small_suite_aa_pairs_with_drift_rarely_blame_the_code() -> None:
    """200 A/A pairs of the small suite, the machine slowing by N(0, 15 %) while each run's
    CPU-bound cells run (the two readings see none of it), 6 % noise a repeat. With the
    readings next to each cell: at most 5 % of verdicts blame the code and at most 5 % of
    pairs fail --fail-on-regression 10 (the waiting cells' own false alarms included: with
    4 configurations the between-run noise cannot be estimated). Without them: the CPU-bound
    cells fail at most 5 % of pairs (without the common-movement rule: about 40 %)."""
    rng = np.random.default_rng(14)
    code = {True: 0, False: 0}
    fails = {True: 0, False: 0}
    cpu_fails = cpu_code = total = 0
    for _ in range(200):
        b, bs, bc = drifting_run(rng, SMALL, slowdown=float(rng.normal(0, 0.15)))
        n, ns, nc = drifting_run(rng, SMALL, slowdown=float(rng.normal(0, 0.15)))
        total += len(SMALL)
        for with_readings in (True, False):
            cells = (bc, nc) if with_readings else (None, None)
            rows = compare_tables(b, n, bs, ns, *cells).rows
            code[with_readings] += int(flagged(rows).sum())
            gate = compare.Comparison("a", "b", rows).regressions(10)
            fails[with_readings] += bool(gate)
            if not with_readings:
                cpu_fails += any("-cpu-" in c for c in gate)
                cpu_code += int(flagged(rows[rows["cpu_bound"]]).sum())
    assert code[True] <= 0.05 * total and fails[True] <= 0.05 * 200, (code, fails)
    assert cpu_fails <= 0.05 * 200 and cpu_code <= 0.06 * total / 2, (cpu_fails, cpu_code)


def test_a_threadpool_halved_in_the_small_suite_is_found_despite_drift() -> None:
    """threadpool 8 → 4 threads on /sleep: its req/s halves; the verdict says so (settings)
    in at least 95 of 100 drifting pairs, and fails the gate."""
    rng = np.random.default_rng(15)
    target = "threadpool-asyncio-sleep-ms20-u10"
    found = 0
    for _ in range(100):
        b, bs, _ = drifting_run(rng, SMALL, slowdown=float(rng.normal(0, 0.15)))
        n, ns, _ = drifting_run(
            rng, SMALL, slowdown=float(rng.normal(0, 0.15)), shift={target: 0.5}
        )
        n.loc[n["cell_id"].str.startswith("threadpool-asyncio-sleep"), "threads"] = 4
        result = compare_tables(b, n, bs, ns)
        rows = result.rows.set_index("config")
        comparison = compare.Comparison("a", "b", result.rows, machine=result.machine)
        found += rows.loc[target, "rps_verdict"] == "slower (settings)" and target in (
            comparison.regressions(10)
        )
    assert found >= 95


def test_readings_next_to_each_cell_are_read_from_cell_json(tmp_path: Path) -> None:
    """compare_runs takes the readings from cell.json `speed`; a run without them (older)
    falls back to the run's two readings."""
    for name, reading in (("base", 0.054), ("new", 0.07)):
        write_repeats(tmp_path / name, [100, 104, 97], [50, 52, 49], SPEED)
        for cell_json in (tmp_path / name / "cells").glob("*/cell.json"):
            data = json.loads(cell_json.read_text())
            data["speed"] = {"before_s": reading, "after_s": reading * 1.01}
            cell_json.write_text(json.dumps(data))
    result = compare.compare_runs(tmp_path / "base", tmp_path / "new")
    # A waiting configuration is never corrected, readings or not; they are still read.
    assert result.cell_speed == 0
    assert list(result.rows["rps_verdict"]) == ["same"]
    from analysis.load import load_run

    records = load_run(tmp_path / "new").records
    assert {r.speed.readings for r in records.values()} == {(0.07, 0.07 * 1.01)}


def test_a_waiting_cell_that_moved_with_the_readings_next_to_it_is_inconclusive() -> None:
    """The readings next to a waiting cell's repeats say the machine was 40 % slower there and
    the cell lost 15 %: not the code's (a waiting server needs some CPU too). The same drop
    with steady readings beside it is the code's; so is a threadpool halved (50 %) where the
    machine was only 10 % slower."""
    rng = np.random.default_rng(16)
    target = "coroutine-asyncio-sleep-ms20-u10"
    base, speed, _ = drifting_run(rng, SMALL, slowdown=0.0, noise=0.02)
    new, _, _ = drifting_run(rng, SMALL, slowdown=0.0, noise=0.02, shift={target: 0.85})
    ids = [str(c) for c in base["cell_id"]]
    steady = {c: (LOOP_S, LOOP_S * 1.01) for c in ids}
    slower = {c: (LOOP_S * 1.4, LOOP_S * 1.41) if c.startswith(target) else steady[c] for c in ids}
    rows = compare_tables(base, new, speed, speed, steady, slower).rows.set_index("config")
    assert rows.loc[target, "rps_verdict"] == "inconclusive (machine?)"
    assert compare.Comparison("a", "b", rows.reset_index()).regressions(10) == []
    rows = compare_tables(base, new, speed, speed, steady, steady).rows.set_index("config")
    assert rows.loc[target, "rps_verdict"] == "slower (code)"
    pool = "threadpool-asyncio-sleep-ms20-u10"
    halved, _, _ = drifting_run(rng, SMALL, slowdown=0.0, noise=0.02, shift={pool: 0.5})
    halved.loc[halved["cell_id"].str.startswith(pool), "threads"] = 4
    bit_slower = {
        c: (LOOP_S * 1.1, LOOP_S * 1.11) if c.startswith(pool) else steady[c] for c in ids
    }
    rows = compare_tables(base, halved, speed, speed, steady, bit_slower).rows.set_index("config")
    assert rows.loc[pool, "rps_verdict"] == "slower (settings)"


def test_other_versions_are_named_and_a_change_is_theirs_never_the_codes(tmp_path: Path) -> None:
    """Runs on the same hardware with another Tornado: compared (no --force), the versions
    named at the top, and a significant drop put down to them, not to the code."""
    write_repeats(tmp_path / "base", [100, 104, 97], [50, 52, 49], SPEED)
    write_repeats(tmp_path / "new", [70, 73, 68], [71, 74, 70], SPEED)
    meta = json.loads((tmp_path / "new" / "run.json").read_text())
    meta["environment"]["packages"]["tornado"] = "6.5.0"
    (tmp_path / "new" / "run.json").write_text(json.dumps(meta))
    result = compare.compare_runs(tmp_path / "base", tmp_path / "new")
    assert result.versions == ("tornado 6.6.1 → 6.5.0",)
    assert list(result.rows["rps_verdict"]) == ["slower (versions)"]
    text = compare.format_comparison(result)
    assert "versions changed (a change is theirs, not the code's): tornado 6.6.1 → 6.5.0" in text
