"""[[environments]]: the same suite's servers in other interpreters and package versions, each
from a venv of its own, built once and reused; refused before anything starts where the
interpreter or a package cannot be had."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from harness import environments
from harness.suite.environments import EnvironmentEntry, find_python
from harness.suite.parse import parse_suite
from record.errors import UserError
from record.records import RunRecord
from tests.conftest import run_bench

OLD_TORNADO = "tornado==6.5.2"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the module: its wheelhouse is filled once."""
    return tmp_path_factory.mktemp("environments")


def _suite(envs: list[dict], **more: object) -> dict:
    return {
        "name": "envs",
        "duration_s": 1.5,
        "warmup_s": 0.5,
        "variants": ["coroutine"],
        "users": [2],
        "environments": envs,
        "scenarios": [{"name": "hello"}],
        **more,
    }


def test_environments_are_checked_when_the_suite_is_read() -> None:
    def refusal(envs: list[dict], **more: object) -> str:
        with pytest.raises(UserError) as err:
            parse_suite(_suite(envs, **more), "s.toml")
        return str(err.value)

    missing = refusal([{"name": "future", "python": "3.99"}])
    assert "environments[1].python: 3.99: no python3.99 on PATH" in missing
    assert "install it or give its path" in missing
    pin = refusal([{"name": "loose", "python": "3.11", "packages": ["tornado>=6"]}])
    assert "environments[1].packages: must be a list of pinned packages" in pin
    twice = refusal([{"name": "a", "python": "3.11"}, {"name": "a", "python": "3.11"}])
    assert "environments[2].name: 'a' is given twice" in twice
    with pytest.raises(UserError) as err:
        parse_suite(
            {
                "name": "t",
                "target": "http://127.0.0.1:9",
                "environments": [{"name": "a", "python": "3.11"}],
                "scenarios": [{"name": "hello"}],
            },
            "s.toml",
        )
    assert "environments: a target runs in its own environment" in str(err.value)


def test_each_environment_is_a_dimension_of_the_matrix() -> None:
    suite = parse_suite(
        _suite(
            [
                {"name": "old", "python": "3.11", "packages": [OLD_TORNADO]},
                {"name": "new", "python": "3.11"},
            ],
            repeats=2,
        ),
        "s.toml",
    )
    ids = [c.cell_id for c in suite.cells()]
    # Interleaved: within each repeat, one environment right after the other.
    assert ids == [
        "coroutine@old-asyncio-hello-u2-r1",
        "coroutine@new-asyncio-hello-u2-r1",
        "coroutine@old-asyncio-hello-u2-r2",
        "coroutine@new-asyncio-hello-u2-r2",
    ]
    assert {c.across_environments for c in suite.cells()} == {"coroutine-asyncio-hello-u2"}


def test_a_package_that_cannot_be_had_is_refused_in_one_line(cache: Path) -> None:
    entry = EnvironmentEntry("nosuch", str(find_python("3.11")), ("tornado==0.0.42",))
    with pytest.raises(
        UserError, match=r"environment nosuch: cannot install its packages: .*tornado"
    ):
        environments.build(entry, cache, lambda line: None)
    assert not any(p.name.startswith("nosuch-") and p.is_dir() for p in cache.iterdir())


def test_two_environments_serve_their_own_cells_and_are_reused(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An older Tornado on this interpreter, and another interpreter: each cell's server
    reports its own Python and Tornado (the harness checks them against the environment's,
    or fails the cell), run.json records both; a second run builds nothing."""
    py312 = find_python("3.12")
    if py312 is None:
        pytest.skip("no Python 3.12 on this machine (pyenv)")
    monkeypatch.setenv("TORNADO_BENCH_ENVIRONMENTS", str(cache))
    suite = tmp_path / "s.toml"
    suite.write_text(
        "\n".join(
            [
                'name = "envs"',
                "duration_s = 1.5",
                "warmup_s = 0.5",
                'variants = ["coroutine"]',
                "users = [2]",
                "[[environments]]",
                'name = "tornado65"',
                'python = "3.11"',
                f'packages = ["{OLD_TORNADO}"]',
                "[[environments]]",
                'name = "py312"',
                'python = "3.12"',
                "[[scenarios]]",
                'name = "hello"',
            ]
        )
    )
    first = run_bench("run", str(suite), "--out", str(tmp_path / "a"), timeout=900)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "environment tornado65: building" in first.stdout
    (run_dir,) = (tmp_path / "a").iterdir()
    run = RunRecord.read(run_dir)
    found = {
        e.name: (e.python_version.rsplit(".", 1)[0], e.packages["tornado"])
        for e in run.environments
    }
    assert found == {"tornado65": ("3.11", "6.5.2"), "py312": ("3.12", "6.6.1")}
    summary = pd.read_csv(run_dir / "summary.csv").set_index("cell_id")
    assert set(summary.index) == {
        "coroutine@tornado65-asyncio-hello-u2-r1",
        "coroutine@py312-asyncio-hello-u2-r1",
    }
    assert set(summary["status"]) == {"ok"}
    assert dict(summary["environment"]) == {
        "coroutine@tornado65-asyncio-hello-u2-r1": "tornado65",
        "coroutine@py312-asyncio-hello-u2-r1": "py312",
    }
    assert "Python 3.12" in (run_dir / "report.html").read_text()
    again = run_bench("run", str(suite), "--out", str(tmp_path / "b"), timeout=900)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "environment tornado65: reused" in again.stdout
    assert "environment py312: reused" in again.stdout
    assert "building" not in again.stdout


def test_a_server_that_cannot_import_fails_its_cell_naming_the_package(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An environment whose Tornado went missing after it was built: the cell fails, and its
    reason names the module the server could not import; the run goes on."""
    own = tmp_path / "cache"
    shutil.copytree(cache / "wheels", own / "wheels")  # no download again
    entry = EnvironmentEntry("broken", str(find_python("3.11")), ())
    built = environments.build(entry, own, lambda line: None)
    subprocess.run(
        [str(built.python), "-m", "pip", "uninstall", "--yes", "--quiet", "tornado"],
        check=True,
        capture_output=True,
    )
    monkeypatch.setenv("TORNADO_BENCH_ENVIRONMENTS", str(own))
    suite = tmp_path / "s.toml"
    suite.write_text(
        'name = "broken"\nduration_s = 1\nwarmup_s = 0\nvariants = ["coroutine"]\nusers = [1]\n'
        '[[environments]]\nname = "broken"\npython = "3.11"\n[[scenarios]]\nname = "hello"\n'
    )
    result = run_bench("run", str(suite), "--out", str(tmp_path / "out"), "--quiet")
    assert result.returncode == 2, result.stdout + result.stderr
    (run_dir,) = (tmp_path / "out").iterdir()
    (cell_json,) = run_dir.glob("cells/*/cell.json")
    reason = json.loads(cell_json.read_text())["reason"]
    assert "No module named 'tornado'" in reason


def test_an_older_run_loads_without_environments(tmp_path: Path) -> None:
    from analysis.load import load_run
    from tests.analysis.fixtures import cell, steady_requests, write_cell, write_run

    c = cell("coroutine")
    write_run(tmp_path, [c])
    write_cell(tmp_path, c, requests=steady_requests(100, 5))
    run = load_run(tmp_path)
    assert run.run.environments == ()
    assert list(run.cells["environment"]) == [""]
