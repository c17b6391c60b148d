"""The db scenarios' throwaway PostgreSQL, through real runs: a db-sleep cell shows the strategies
apart, and no database process or folder is left after a run, Ctrl-C, a failed cell or a
SIGKILLed harness. Without PostgreSQL the db cells are refused in one line and the rest runs;
--db-url is checked before the run."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import psutil
import pytest

from harness.processes import postgres, procs
from harness.runner import run_suite
from harness.suite.parse import parse_suite
from record.errors import UserError
from record.records import CellRecord
from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(
    postgres.missing_reason() is not None, reason=postgres.missing_reason() or ""
)


@pytest.fixture
def pg_tmp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temp folder of this test's own for the databases' folders (traversable by the
    unprivileged user PostgreSQL runs as when the tests run as root)."""
    folder = Path(tempfile.mkdtemp(prefix="pgtest-", dir="/tmp"))
    folder.chmod(0o711)
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def databases_in(folder: Path) -> list[Path]:
    return list(folder.glob(postgres.DIR_PREFIX + "*"))


def postgres_processes(folder: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        with contextlib.suppress(psutil.Error):
            if proc.info["status"] != psutil.STATUS_ZOMBIE and str(folder) in " ".join(
                proc.info["cmdline"] or ()
            ):
                found.append(proc)
    return found


def runs_locust(processes: list[psutil.Process]) -> bool:
    """Whether one of processes is Locust; one that exits (or is a zombie) meanwhile is skipped."""
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            if "locust" in " ".join(proc.cmdline()):
                return True
    return False


def assert_nothing_left(folder: Path) -> None:
    deadline = time.monotonic() + 3
    while postgres_processes(folder) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert postgres_processes(folder) == []
    assert databases_in(folder) == []


def suite_of(tmp_path: Path, variants: list[str], scenarios: list[dict], **top: object) -> object:
    data = {
        "name": "db-test",
        "duration_s": 2,
        "warmup_s": 0.5,
        "variants": variants,
        "users": [10],
        "scenarios": scenarios,
        **top,
    }
    return parse_suite(data, str(tmp_path / "db-test.toml"))


def cell(run_dir: Path, cell_id: str) -> CellRecord:
    return CellRecord.read(run_dir / "cells" / cell_id)


def ok_rps(run_dir: Path, cell_id: str, duration_s: float) -> float:
    reqs = pd.read_parquet(run_dir / "cells" / cell_id / "requests.parquet")
    return float(reqs["ok"].sum()) / duration_s


def test_db_sleep_sync_vs_coroutine_and_no_database_left(tmp_path: Path, pg_tmp: Path) -> None:
    """pg_sleep(20 ms) at 10 users: sync holds one query at a time (at most 50 req/s), the
    coroutine's pool of 10 holds them all (up to 500 req/s)."""
    suite = suite_of(tmp_path, ["sync", "coroutine"], [{"name": "db-sleep", "params": {"ms": 20}}])
    run_dir = tmp_path / "run"
    outcome = run_suite(suite, run_dir, quiet=True)  # type: ignore[arg-type]
    assert outcome.counts["ok"] == 2, outcome.counts
    sync_id, coro_id = (f"{v}-asyncio-db-sleep-ms20-pool10-u10-r1" for v in ("sync", "coroutine"))
    sync, coro = ok_rps(run_dir, sync_id, 2), ok_rps(run_dir, coro_id, 2)
    assert 10 < sync <= 55, sync
    assert coro > 3 * sync, (sync, coro)
    for cid in (sync_id, coro_id):
        record = cell(run_dir, cid)
        assert record.status == "ok", record.reason
        assert "backend" in record.pids  # the database: sampled and watched like a backend
        assert (run_dir / "cells" / cid / "database.log").is_file()
    assert_nothing_left(pg_tmp)


def test_a_database_killed_mid_cell_fails_the_cell_and_is_cleaned_up(
    tmp_path: Path, pg_tmp: Path
) -> None:
    suite = suite_of(
        tmp_path, ["coroutine"], [{"name": "db-sleep", "params": {"ms": 10}}], duration_s=4
    )
    killed: list[int] = []

    def kill_when_loaded() -> None:
        deadline = time.monotonic() + 60
        me = psutil.Process()
        while time.monotonic() < deadline:
            children = me.children(recursive=True)
            with contextlib.suppress(psutil.Error):
                if runs_locust(children):
                    time.sleep(1.0)
                    for proc in postgres_processes(pg_tmp):
                        if proc.ppid() == os.getpid():  # the postmaster
                            proc.kill()
                            killed.append(proc.pid)
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_when_loaded, daemon=True)
    killer.start()
    run_dir = tmp_path / "run"
    outcome = run_suite(suite, run_dir, quiet=True)  # type: ignore[arg-type]
    killer.join(10)
    assert killed, "the database was never seen running"
    record = cell(run_dir, "coroutine-asyncio-db-sleep-ms10-pool10-u10-r1")
    assert outcome.counts["failed"] == 1
    assert record.status == "failed" and "database exited" in record.reason, record.reason
    assert_nothing_left(pg_tmp)


def test_ctrl_c_stops_the_database_and_deletes_its_folder(tmp_path: Path, pg_tmp: Path) -> None:
    suite_file = tmp_path / "intr.toml"
    suite_file.write_text(
        'name = "intr"\nduration_s = 20\nwarmup_s = 0.5\nvariants = ["sync"]\nusers = [4]\n'
        '[[scenarios]]\nname = "db-sleep"\nparams = { ms = 5 }\n'
    )
    popen = subprocess.Popen(
        [
            sys.executable,
            "run_bench.py",
            "run",
            str(suite_file),
            "--out",
            str(tmp_path / "out"),
            "--quiet",
        ],
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(pg_tmp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            kids = psutil.Process(popen.pid).children(recursive=True)
            with contextlib.suppress(psutil.Error):
                if databases_in(pg_tmp) and runs_locust(kids):
                    break
            time.sleep(0.05)
        else:
            raise AssertionError("the db cell never reached its load")
        assert postgres_processes(pg_tmp)
        popen.send_signal(signal.SIGINT)
        _, stderr = popen.communicate(timeout=30)
    finally:
        if popen.poll() is None:
            popen.kill()
            popen.wait()
    assert popen.returncode == 130, stderr
    assert_nothing_left(pg_tmp)


def test_a_sigkilled_harness_leaves_no_database_running(pg_tmp: Path) -> None:
    """Its PostgreSQL dies with it (PR_SET_PDEATHSIG, set after the change to an unprivileged
    user); its folder, which cannot, is deleted by the next start."""
    code = (
        "import os\nfrom harness.processes import postgres\n"
        "db = postgres.start_throwaway()\nprint(db.pid, flush=True)\nos.kill(os.getpid(), 9)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(pg_tmp)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == -9, result.stderr
    pid = int(result.stdout.split()[0])
    deadline = time.monotonic() + 3
    while postgres_processes(pg_tmp) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not procs.live({pid})  # gone or a zombie (it may be reaped between two looks)
    assert postgres_processes(pg_tmp) == []
    stale = databases_in(pg_tmp)
    assert len(stale) == 1
    assert postgres.remove_stale_folders() == stale
    assert databases_in(pg_tmp) == []


def test_db_cells_refused_without_postgres_and_the_rest_runs(
    tmp_path: Path, pg_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    monkeypatch.setattr(postgres, "SEARCH_DIRS", ())
    assert postgres.missing_reason() is not None
    suite = suite_of(
        tmp_path,
        ["sync"],
        [{"name": "sleep", "params": {"ms": 5}}, {"name": "db-write"}],
        duration_s=1,
    )
    run_dir = tmp_path / "run"
    outcome = run_suite(suite, run_dir, quiet=True)  # type: ignore[arg-type]
    err = capsys.readouterr().err.strip().splitlines()
    refusals = [line for line in err if "db cells refused" in line]
    assert len(refusals) == 1 and "apt-get install postgresql" in refusals[0], err
    assert outcome.counts == {"ok": 1, "invalid": 0, "failed": 1, "skipped": 0}
    assert cell(run_dir, "sync-asyncio-sleep-ms5-u10-r1").status == "ok"
    refused = cell(run_dir, "sync-asyncio-db-write-pool10-u10-r1")
    assert refused.status == "failed" and "apt-get install postgresql" in refused.reason
    assert refused.pids == {}  # nothing was started for it
    assert databases_in(pg_tmp) == []


def test_db_url_runs_without_binaries_and_bad_ones_are_refused(
    tmp_path: Path, pg_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = postgres.start_throwaway()
    try:
        with pytest.raises(UserError, match="not a postgresql:// URL"):
            postgres.check_db_url("http://127.0.0.1:5432/x")
        with pytest.raises(UserError, match="not a loopback address; add --allow-remote"):
            postgres.check_db_url("postgresql://u@192.0.2.1/x")
        port = db.url.rsplit(":", 1)[1].split("/")[0]
        with pytest.raises(UserError, match="cannot use the database"):
            postgres.check_db_url(db.url.replace(f":{port}/", ":1/"))
        url = postgres.check_db_url(db.url)
        monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
        monkeypatch.setattr(postgres, "SEARCH_DIRS", ())
        suite = suite_of(tmp_path, ["coroutine"], [{"name": "db-write"}], duration_s=1)
        run_dir = tmp_path / "run"
        outcome = run_suite(suite, run_dir, quiet=True, db_url=url)  # type: ignore[arg-type]
        record = cell(run_dir, "coroutine-asyncio-db-write-pool10-u10-r1")
        assert outcome.counts["ok"] == 1, record.reason
        assert "backend" not in record.pids  # the given database, not a throwaway one
        with postgres.connect(db.url) as conn:
            written = conn.execute("SELECT count(*) FROM bench_writes").fetchone()[0]
        assert written >= 10
    finally:
        db.stop()
    assert_nothing_left(pg_tmp)


def test_cli_refuses_a_bad_db_url_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "run_bench.py",
            "run",
            "smoke",
            "--db-url",
            "mysql://x/y",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: --db-url: 'mysql://x/y' is not a postgresql:// URL"
    ]
    assert list(tmp_path.iterdir()) == []
