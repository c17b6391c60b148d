"""`history` on synthetic series in the results layout: A/A noise gives no change, a step is
found at its run, a machine-speed drift on CPU-bound series is "(machine)", runs on different
machines are never merged into one series, old-schema runs load; the page is written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import run_bench
from analysis.history import changes, runs, series
from analysis.history.synthetic import DAY_S, MACHINE, T0, Plan, write_history
from tests.conftest import ROOT

METRICS = series.DEFAULT_METRICS
STEPPED = "threadpool-asyncio-sleep-ms50-u50"


def _changes(folder: Path) -> pd.DataFrame:
    found, _ = runs.load_history([folder])
    table, _count = changes.all_changes(series.build_points(found, METRICS))
    return table


def test_the_change_point_code_imports_in_this_environment() -> None:
    """apache-otava is installed without its dependencies (see the Makefile): the module used
    must import with the project's own numpy and scipy, and pull in none of its CLI's."""
    code = (
        "import sys, otava.analysis\n"
        "extra = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'google', 'slack_sdk', 'pg8000', 'dateparser', 'ruamel', 'configargparse'})\n"
        "sys.exit(str(extra) if extra else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_a_noise_gives_no_change_on_95_percent_of_configurations(tmp_path: Path) -> None:
    flagged, total = 0, 0
    for seed in range(4):
        write_history(tmp_path / str(seed), Plan(runs=12, seed=seed))
        table = _changes(tmp_path / str(seed))
        flagged += table["config"].nunique()
        total += 45
    assert flagged / total <= 0.05, flagged


def test_a_step_is_found_at_its_run(tmp_path: Path) -> None:
    # threadpool from 8 to 4 threads after run 7: half the req/s on /sleep at 50 users.
    write_history(tmp_path, Plan(runs=14, steps={STEPPED: (7, 0.5)}))
    table = _changes(tmp_path)
    assert set(table["config"]) == {STEPPED}
    rps = table[table["metric"] == "rps"].iloc[0]
    assert abs(int(rps["run_index"]) - 7) <= 1
    assert rps["change"] == pytest.approx(-0.5, abs=0.05)
    assert rps["ci_lo"] < rps["change"] < rps["ci_hi"] < 0
    assert rps["cause"] == changes.CODE and rps["run_id"] == "run007"


def test_a_machine_drift_on_cpu_bound_series_is_the_machine(tmp_path: Path) -> None:
    speed = [0.050] * 7 + [0.070] * 7  # the machine 40 % slower from run 7
    write_history(tmp_path, Plan(runs=14, speed_s=speed))
    table = _changes(tmp_path)
    at_drift = table[table["run_index"] == 7]
    assert set(at_drift["cause"]) == {changes.MACHINE}
    moved = at_drift[at_drift["metric"] == "rps"]
    assert moved["config"].str.contains("-cpu-|-hello-").all() and len(moved) == 25
    # CPU per request moves with the machine on every workload, waiting ones too.
    assert (at_drift["metric"] == "server_cpu_ms_per_req").sum() == 45
    # Beside the drift only what A/A noise gives (about 1 in 45 configurations).
    assert table[table["run_index"] != 7]["config"].nunique() <= 2


def test_a_code_change_beside_a_machine_drift_is_the_code(tmp_path: Path) -> None:
    cpu = "coroutine-asyncio-cpu-n20000-u4"
    speed = [0.050] * 7 + [0.070] * 7
    write_history(tmp_path, Plan(runs=14, speed_s=speed, steps={cpu: (7, 0.5)}))
    rps = _changes(tmp_path).query("metric == 'rps'").set_index("config")
    assert rps.loc[cpu, "cause"] == changes.CODE
    assert (rps.drop(index=cpu)["cause"] == changes.MACHINE).all()


def test_runs_from_two_machines_are_never_merged(tmp_path: Path) -> None:
    # Machine B is twice as fast and its runs interleave with A's in time: merged, each
    # configuration would jump at every run.
    other = {**MACHINE, "cpu": {**MACHINE["cpu"], "model": "Faster CPU"}}
    write_history(tmp_path / "a", Plan(runs=10, seed=1))
    write_history(
        tmp_path / "b",
        Plan(runs=10, seed=2, environment=other, steps={}),
        start_index=10,
        t0=T0 + DAY_S / 2 - 10 * DAY_S,  # half a day after each of A's runs
    )
    # B doubles every config's rps: scale its summaries.
    for run_dir in (tmp_path / "b").iterdir():
        frame = pd.read_csv(run_dir / "summary.csv")
        for col in ("rps", "rps_ci_low", "rps_ci_high"):
            frame[col] *= 2
        frame.to_csv(run_dir / "summary.csv", index=False)
    found, _ = runs.load_history([tmp_path])
    assert len(found) == 20 and len({r.machine for r in found}) == 2
    points = series.build_points(found, METRICS)
    per_machine = points.groupby("machine")["run_index"].agg(["min", "max"])
    assert per_machine.to_dict("list") == {"min": [0, 0], "max": [9, 9]}
    assert found[0].machine != found[1].machine  # in time order, A and B alternate
    table, count = changes.all_changes(points)
    assert count == 2 * 45 * len(METRICS)
    assert not (table["metric"] == "rps").any()  # merged, every rps series would jump
    assert table["config"].nunique() <= 2  # A/A noise only


def test_old_schema_runs_load_beside_new_ones(tmp_path: Path) -> None:
    write_history(tmp_path, Plan(runs=6, schema=1, seed=3))
    write_history(tmp_path, Plan(runs=6, seed=4), start_index=6)
    found, skipped = runs.load_history([tmp_path])
    assert skipped == [] and len(found) == 12
    assert all(np.isnan(r.speed_s) for r in found[:6])
    old = pd.read_csv(tmp_path / "run000" / "summary.csv")
    assert "rps_ci_low" not in old.columns  # really the old layout
    points = series.build_points(found, METRICS)
    rps = points[(points["metric"] == "rps") & (points["config"] == STEPPED)]
    assert len(rps) == 12
    # schema 1 has no server_cpu_ms_per_req: those series start at the new runs
    cost = points[(points["metric"] == "server_cpu_ms_per_req") & (points["config"] == STEPPED)]
    assert sorted(cost["run_index"]) == list(range(6, 12))
    assert _changes(tmp_path).empty


def test_history_command_writes_the_page(tmp_path: Path, capsys) -> None:
    write_history(tmp_path / "results", Plan(runs=10, steps={STEPPED: (5, 0.5)}))
    out = tmp_path / "site"
    code = run_bench.main(
        ["history", str(tmp_path / "results"), "--out", str(out), "--metric", "rps"]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "10 runs on 1 machine(s), 45 series: 1 change(s)" in text
    assert f"{STEPPED} rps: -49.9% from run 5 run005" in text
    page = (out / "index.html").read_text()
    assert "Detected changes" in page and STEPPED in page and "run005" in page
    assert page.count("data:image/png;base64,") == 45
    assert len(pd.read_csv(out / "changes.csv")) == 1
    assert set(pd.read_csv(out / "points.csv")["metric"]) == {"rps"}


def test_a_bad_metric_is_refused_in_one_line(tmp_path: Path, capsys) -> None:
    assert run_bench.main(["history", str(tmp_path), "--metric", "speed"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "unknown metric 'speed'" in err and "p99_ms" in err


def test_a_folder_without_runs_is_refused(tmp_path: Path, capsys) -> None:
    assert run_bench.main(["history", str(tmp_path)]) == 1
    assert "no results folder" in capsys.readouterr().err


def test_makefile_installs_otava_without_its_dependencies() -> None:
    text = (ROOT / "Makefile").read_text()
    assert "--no-deps -r requirements-nodeps.txt" in text
    assert "apache-otava==0.8.0" in (ROOT / "requirements-nodeps.txt").read_text()


def test_a_run_never_reported_is_summarised_from_its_raw_data(tmp_path: Path) -> None:
    from tests.analysis.fixtures import cell, steady_requests, write_cell, write_run

    for r in range(3):
        run_dir = tmp_path / f"raw{r}"
        c = cell("coroutine", users=10)
        write_run(run_dir, [c])
        write_cell(run_dir, c, requests=steady_requests(100 + r, 50.0))
    found, skipped = runs.load_history([tmp_path])
    assert skipped == [] and not (tmp_path / "raw0" / "summary.csv").exists()
    points = series.build_points(found, ("rps", "p99_ms"))
    rps = points[points["metric"] == "rps"].sort_values("run_id")
    assert rps["value"].round().tolist() == [100.0, 101.0, 102.0]
    assert set(rps["config"]) == {"coroutine-asyncio-sleep-ms50-u10"}
