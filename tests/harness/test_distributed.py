"""Distributed load end to end: real servers, real Locust master and workers, short cells.

Several local workers, a worker started elsewhere with `run_bench.py worker`, a worker killed
mid-cell, and workers the master refuses. Every run is watched: nothing it started (nor the
external workers) may outlive it, and its temp folders are removed.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import pytest

from harness.processes import procs
from tests.conftest import ROOT, own_notes

SUITE = """
name = "{name}"
duration_s = 2
warmup_s = 0.5
variants = {variants}
users = [4]

[[scenarios]]
name = "sleep"
params = {{ ms = 20 }}
"""
PYTHON = sys.executable  # the project's venv, which a copied checkout borrows too
# How long a run (or a worker) may take before the test gives up on it: far above the
# 15-30 s these take, for 2 busy cores.
RUN_TIMEOUT_S = 180.0


def cell_name(variant: str) -> str:
    return f"{variant}-asyncio-sleep-ms20-u4-r1"


@contextlib.contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A temp folder of the test's own, removed afterwards (and checked gone)."""
    path = Path(tempfile.mkdtemp(prefix=f"tb-dist-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        assert not path.exists()


def descendants(pid: int) -> set[int]:
    with contextlib.suppress(psutil.Error):
        return {p.pid for p in psutil.Process(pid).children(recursive=True)}
    return set()


@dataclass
class Watch:
    """Every process started for one test: the processes the test starts, all their
    descendants seen while they run, and any process whose command line names the test's
    folder or master port. `before`: the test process's own children at the start (a session
    fixture's server, say), which are not the test's."""

    markers: tuple[str, ...]
    roots: list[subprocess.Popen[bytes]] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)
    before: set[int] = field(default_factory=lambda: descendants(os.getpid()))

    def start(
        self,
        argv: list[str],
        *,
        cwd: Path,
        out: Path,
        err: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start argv; its stdout goes to `out`, its stderr to `err` (or to `out` too)."""
        with contextlib.ExitStack() as files:
            stdout = files.enter_context(open(out, "wb"))
            stderr = files.enter_context(open(err, "wb")) if err else subprocess.STDOUT
            popen = subprocess.Popen(
                argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, env=env
            )
        self.roots.append(popen)
        self.seen.add(popen.pid)
        return popen

    def poll(self) -> None:
        for popen in self.roots:
            self.seen |= descendants(popen.pid)

    def processes(self) -> list[psutil.Process]:
        """Every process of the test's Locust side, by command line."""
        found = []
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if proc.pid != os.getpid() and proc.status() != psutil.STATUS_ZOMBIE:
                    cmd = " ".join(proc.cmdline())
                    if any(m in cmd for m in self.markers):
                        found.append(proc)
        return found

    def wait(self, popen: subprocess.Popen[bytes], timeout: float = RUN_TIMEOUT_S) -> int:
        deadline = time.monotonic() + timeout
        while popen.poll() is None:
            self.poll()
            if time.monotonic() > deadline:
                raise AssertionError(f"{popen.args!r} still running after {timeout:g} s")
            time.sleep(0.05)
        return popen.returncode

    def until(self, predicate: Callable[[], object], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll()
            if predicate():
                return
            if any(p.poll() is not None for p in self.roots):
                raise AssertionError(f"a process ended before {what}")
            time.sleep(0.05)
        raise AssertionError(f"not reached in {timeout:g} s: {what}")

    def leftovers(self, settle_s: float = 10.0) -> list[str]:
        """What still runs of the test's processes, after up to settle_s for them to go."""
        deadline = time.monotonic() + settle_s
        while True:
            self.poll()
            mine = descendants(os.getpid()) - self.before
            pids = procs.live(self.seen | mine) | {p.pid for p in self.processes()}
            if not pids or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        described = []
        for pid in sorted(pids):
            with contextlib.suppress(psutil.Error):
                described.append(f"{pid}: {' '.join(psutil.Process(pid).cmdline())}")
        return described

    def kill_all(self) -> None:
        """After a failed test: nothing of it may run on into the next one."""
        self.poll()
        for popen in self.roots:
            if popen.poll() is None:
                popen.kill()
                popen.wait()
        for pid in procs.live(self.seen):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for proc in self.processes():
            with contextlib.suppress(psutil.Error):
                proc.kill()


def run_argv(suite: Path, out: Path, *extra: str) -> list[str]:
    return [
        PYTHON,
        str(ROOT / "run_bench.py"),
        "run",
        str(suite),
        "--out",
        str(out),
        "--quiet",
        *extra,
    ]


def worker_argv(checkout: Path, port: int, token: str, timeout_s: float) -> list[str]:
    return [
        PYTHON,
        str(checkout / "run_bench.py"),
        "worker",
        "--master",
        f"127.0.0.1:{port}",
        "--token",
        token,
        "--worker-timeout",
        f"{timeout_s:g}",
    ]


def running(watch: Watch) -> list[tuple[psutil.Process, list[str]]]:
    """The processes the test's runs and workers started, with their command lines."""
    found = []
    for popen in watch.roots:
        with contextlib.suppress(psutil.Error):
            for proc in psutil.Process(popen.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    found.append((proc, proc.cmdline()))
    return found


def master_up(watch: Watch, port: int) -> Callable[[], bool]:
    """Whether the run's Locust master of a cell runs (it listens on `port`)."""
    return lambda: any(
        "--master-bind-port" in cmd and str(port) in cmd for _, cmd in running(watch)
    )


def write_suite(folder: Path, name: str, variants: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(SUITE.format(name=name, variants=variants))
    return path


def only_run_dir(out: Path) -> Path:
    (run_dir,) = list(out.iterdir())
    return run_dir


def cell_json(run_dir: Path, variant: str) -> dict[str, Any]:
    return json.loads((run_dir / "cells" / cell_name(variant) / "cell.json").read_text())


def summary_row(run_dir: Path, variant: str) -> pd.Series:
    return pd.read_csv(run_dir / "summary.csv").set_index("cell_id").loc[cell_name(variant)]


# --- local workers, one of them killed ------------------------------------------------------
#
# One run of two cells with two local workers each: one worker of the first (threadpool) cell
# is SIGKILLed mid-load; the second (coroutine) cell is the plain two-worker case, and shows
# that the next cell runs as if nothing had happened. One run for both keeps the file short.


@dataclass
class Finished:
    run_dir: Path
    code: int
    output: str
    leftovers: list[str]
    extra: dict[str, Any] = field(default_factory=dict)


def locust_workers(watch: Watch) -> list[psutil.Process]:
    """The run's local Locust worker processes running now."""
    return [p for p, cmd in running(watch) if "--worker" in cmd and "locust" in cmd]


@pytest.fixture(scope="module")
def local_run() -> Iterator[Finished]:
    """The kill comes about 1.5 s after the first cell's load started (1 s into its window)."""
    with scratch("local") as tmp:
        port = procs.free_port()
        watch = Watch(markers=(str(tmp), f"127.0.0.1:{port}", f"-port {port}"))
        try:
            suite = write_suite(tmp, "local", '["threadpool", "coroutine"]')
            out = tmp / "results"
            argv = run_argv(suite, out, "--workers", "2", "--master-port", str(port))
            run = watch.start(argv, cwd=ROOT, out=tmp / "run.out")
            # The master opens the cell's Parquet files (temp names) the moment the load starts.
            started = f"*/cells/{cell_name('threadpool')}/.requests.parquet.*.tmp"
            watch.until(lambda: any(out.glob(started)), 90, "the first cell's load started")
            time.sleep(1.5)
            victims = locust_workers(watch)
            assert len(victims) == 2, victims
            victim = victims[-1]
            victim.send_signal(signal.SIGKILL)
            code = watch.wait(run)
            yield Finished(
                only_run_dir(out),
                code,
                (tmp / "run.out").read_text(),
                watch.leftovers(),
                {"pid": victim.pid},
            )
        finally:
            watch.kill_all()


def test_two_local_workers_both_record(local_run: Finished) -> None:
    assert local_run.code == 0, local_run.output  # an invalid cell is no failed one
    cell_dir = local_run.run_dir / "cells" / cell_name("coroutine")
    reqs = pd.read_parquet(cell_dir / "requests.parquet")
    assert set(reqs["worker"]) == {0, 1}
    per_worker = reqs.groupby("worker").size()
    assert (per_worker > 20).all(), per_worker.to_dict()  # each carried part of the load


def test_two_local_workers_counts_reconcile(local_run: Finished) -> None:
    info = cell_json(local_run.run_dir, "coroutine")
    assert info["status"] == "ok", info["reason"]
    assert info["problems"] == [] and info["leftover_pids"] == []
    assert info["records"] == info["locust_requests"] > 40
    workers = info["loadgen_workers"]
    assert sorted(w["worker"] for w in workers) == [0, 1]
    assert all(w["local"] for w in workers)
    assert sum(w["records"] for w in workers) == info["records"]
    for w in workers:
        assert w["records"] == w["locust_requests"] > 0, w


def test_two_local_workers_report_their_own_cpu(local_run: Finished) -> None:
    workers = cell_json(local_run.run_dir, "coroutine")["loadgen_workers"]
    assert len(workers) == 2
    for w in workers:
        cpu = w["cpu_pct"]
        # A worker's own figure over the window: a few % here (zmq's thread may add to it).
        assert cpu is not None and math.isfinite(cpu) and 0 < cpu < 200, w


def test_two_local_workers_cell_is_valid(local_run: Finished) -> None:
    row = summary_row(local_run.run_dir, "coroutine")
    assert row["status"] == "ok" and bool(row["valid"]), row.to_dict()
    assert own_notes(row["notes"]) == [], row.to_dict()
    assert row["loadgen_workers"] == 2
    assert row["records"] == row["locust_requests"]


def test_killed_worker_makes_its_cell_invalid(local_run: Finished) -> None:
    info = cell_json(local_run.run_dir, "threadpool")
    entry = [w for w in info["loadgen_workers"] if w["pid"] == local_run.extra["pid"]]
    assert len(entry) == 1, info["loadgen_workers"]
    index = entry[0]["worker"]
    lost = [p for p in info["problems"] if p.startswith(f"worker {index} lost at ")]
    assert len(lost) == 1, info["problems"]
    # When it was last heard from: during the load (killed about 1 s into the 2 s window).
    at_s = float(lost[0].removeprefix(f"worker {index} lost at ").removesuffix(" s"))
    assert -0.5 <= at_s <= 2.0, lost
    row = summary_row(local_run.run_dir, "threadpool")
    assert row["status"] == "invalid" and not bool(row["valid"]), row.to_dict()
    assert f"worker {index} lost" in row["notes"]


def test_local_workers_leave_nothing_running(local_run: Finished) -> None:
    assert not procs.live({local_run.extra["pid"]})
    assert local_run.leftovers == []
    for variant in ("threadpool", "coroutine"):
        assert cell_json(local_run.run_dir, variant)["leftover_pids"] == []


# --- a worker started elsewhere ---------------------------------------------------------------


@pytest.fixture(scope="module")
def external() -> Iterator[Finished]:
    """A run expecting one remote worker, and `run_bench.py worker` started from an empty
    folder once the run's first master is up (it would give up 5 s after the run ended). An
    intruder with a wrong token joins too: refused while the cell runs on without it."""
    with scratch("external") as tmp:
        port = procs.free_port()
        token = "distributed-test-token"
        cwd, worker_tmp = tmp / "worker-cwd", tmp / "worker-tmp"
        cwd.mkdir()
        worker_tmp.mkdir()
        watch = Watch(markers=(str(tmp), f"127.0.0.1:{port}", f"-port {port}"))
        try:
            suite = write_suite(tmp, "external", '["coroutine"]')
            argv = run_argv(
                suite,
                tmp / "results",
                "--remote-workers",
                "1",
                "--master-port",
                str(port),
                "--token",
                token,
                "--worker-timeout",
                "30",
            )
            run = watch.start(argv, cwd=ROOT, out=tmp / "run.out")
            watch.until(master_up(watch, port), 90, "the run's Locust master started")
            env = {**os.environ, "TMPDIR": str(worker_tmp)}
            worker = watch.start(
                worker_argv(ROOT, port, token, 5), cwd=cwd, out=tmp / "worker.out", env=env
            )
            intruder_cwd = tmp / "intruder-cwd"
            intruder_cwd.mkdir()
            intruder = watch.start(
                worker_argv(ROOT, port, "not-the-token", 5),
                cwd=intruder_cwd,
                out=tmp / "intruder.out",
            )
            code = watch.wait(run)
            worker_started = time.monotonic()
            worker_code = watch.wait(worker, timeout=60)
            intruder_code = watch.wait(intruder, timeout=60)
            yield Finished(
                only_run_dir(tmp / "results"),
                code,
                (tmp / "run.out").read_text(),
                watch.leftovers(),
                {
                    "port": port,
                    "worker_code": worker_code,
                    "worker_output": (tmp / "worker.out").read_text(),
                    "worker_exit_s": time.monotonic() - worker_started,
                    "cwd": sorted(p.name for p in cwd.iterdir()),
                    "worker_tmp": sorted(p.name for p in worker_tmp.iterdir()),
                    "intruder_code": intruder_code,
                    "intruder_output": (tmp / "intruder.out").read_text(),
                },
            )
        finally:
            watch.kill_all()


def test_external_worker_records_reach_the_run(external: Finished) -> None:
    assert external.code == 0, external.output
    info = cell_json(external.run_dir, "coroutine")
    assert info["status"] == "ok", info["reason"]
    assert info["problems"] == [] and info["records"] == info["locust_requests"]
    remote = [w for w in info["loadgen_workers"] if not w["local"]]
    local = [w for w in info["loadgen_workers"] if w["local"]]
    assert len(remote) == 1 and len(local) == 1, info["loadgen_workers"]
    assert remote[0]["records"] > 20 and remote[0]["records"] == remote[0]["locust_requests"]
    reqs = pd.read_parquet(external.run_dir / "cells" / cell_name("coroutine") / "requests.parquet")
    assert set(reqs["worker"]) == {remote[0]["worker"], local[0]["worker"]}
    assert (reqs["worker"] == remote[0]["worker"]).sum() > 20
    assert bool(summary_row(external.run_dir, "coroutine")["valid"])


def test_external_worker_exits_by_itself(external: Finished) -> None:
    out = external.extra["worker_output"]
    assert external.extra["worker_code"] == 0, out
    assert "worker: cell 1 done" in out
    # Told by the run that it ended, or after 5 s without a master: either way on its own,
    # well within the 60 s it was given once the run had ended.
    last = out.strip().splitlines()[-1]
    assert last in (
        "worker: the run ended; served 1 cell(s)",
        f"worker: master 127.0.0.1:{external.extra['port']} unreachable for 5 s; served 1 cell(s)",
    ), out
    assert external.extra["worker_exit_s"] < 40, out


def test_external_worker_writes_nothing_where_it_runs(external: Finished) -> None:
    assert set(external.extra["cwd"]) <= {"__pycache__"}, external.extra["cwd"]
    assert external.extra["worker_tmp"] == []  # its own temp folder went with it


def test_intruder_is_refused_and_the_cell_goes_on_without_it(external: Finished) -> None:
    out = external.extra["intruder_output"]
    assert external.extra["intruder_code"] == 1, out
    assert "error: refused by the master: the token was refused" in out.splitlines()
    info = cell_json(external.run_dir, "coroutine")
    assert info["status"] == "ok" and info["problems"] == [], info
    refused = [n for n in info["notes"] if n.startswith("refused ")]
    assert len(refused) == 1 and refused[0].endswith(": the token was refused"), info["notes"]
    # Only the two admitted workers are listed, and only their rows are stored.
    admitted = {w["worker"] for w in info["loadgen_workers"]}
    assert len(info["loadgen_workers"]) == 2 and admitted == {0, 1}
    for name in ("requests.parquet", "outside.parquet"):
        path = external.run_dir / "cells" / cell_name("coroutine") / name
        assert set(pd.read_parquet(path)["worker"]) <= admitted, name
    assert bool(summary_row(external.run_dir, "coroutine")["valid"])


def test_external_worker_leaves_nothing_running(external: Finished) -> None:
    assert external.leftovers == []


# --- refused workers --------------------------------------------------------------------------


def other_checkout(tmp: Path) -> Path:
    """A copy of this checkout whose scenarios/sleep.py differs by one comment line."""
    copy = tmp / "other-checkout"
    junk = (".venv", ".git", "results", "__pycache__", ".pytest_cache", ".ruff_cache")
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(*junk))
    with open(copy / "scenarios" / "sleep.py", "a") as fh:
        fh.write("# this checkout's sleep scenario is not the run's\n")
    return copy


@pytest.fixture(scope="module")
def refusals() -> Iterator[Finished]:
    """A run expecting one remote worker (8 s to join); two workers join, both refused: one
    with a wrong token, one from a checkout whose sleep scenario differs."""
    with scratch("refused") as tmp:
        port = procs.free_port()
        token = "the-run-token"
        copy = other_checkout(tmp)
        watch = Watch(markers=(str(tmp), f"127.0.0.1:{port}", f"-port {port}"))
        try:
            suite = write_suite(tmp, "refused", '["coroutine"]')
            argv = run_argv(
                suite,
                tmp / "results",
                "--remote-workers",
                "1",
                "--master-port",
                str(port),
                "--token",
                token,
                "--worker-timeout",
                "8",
            )
            run = watch.start(argv, cwd=ROOT, out=tmp / "run.out", err=tmp / "run.err")
            watch.until(master_up(watch, port), 90, "the run's Locust master started")
            workers = {}
            for name, checkout, given in (("token", ROOT, "not-the-token"), ("copy", copy, token)):
                cwd = tmp / f"cwd-{name}"
                cwd.mkdir()
                argv = worker_argv(checkout, port, given, 30)
                workers[name] = watch.start(argv, cwd=cwd, out=tmp / f"worker-{name}.out")
            code = watch.wait(run)
            codes = {name: watch.wait(w, timeout=60) for name, w in workers.items()}
            yield Finished(
                only_run_dir(tmp / "results"),
                code,
                (tmp / "run.err").read_text(),
                watch.leftovers(),
                {
                    "codes": codes,
                    "outputs": {n: (tmp / f"worker-{n}.out").read_text() for n in workers},
                    "stdout": (tmp / "run.out").read_text(),
                },
            )
        finally:
            watch.kill_all()


def test_worker_with_a_wrong_token_is_refused(refusals: Finished) -> None:
    out = refusals.extra["outputs"]["token"]
    assert refusals.extra["codes"]["token"] == 1, out
    assert "error: refused by the master: the token was refused" in out.splitlines()


def test_worker_with_another_scenario_file_is_refused(refusals: Finished) -> None:
    out = refusals.extra["outputs"]["copy"]
    assert refusals.extra["codes"]["copy"] == 1, out
    line = "error: refused by the master: scenario file sleep.py differs"
    assert any(x.startswith(line) for x in out.splitlines()), out


def test_master_logs_each_refusal(refusals: Finished) -> None:
    log = (refusals.run_dir / "cells" / cell_name("coroutine") / "locust.log").read_text()
    assert "refused: the token was refused" in log
    assert "refused: scenario file sleep.py differs" in log


def test_run_stops_when_its_workers_are_refused(refusals: Finished) -> None:
    assert refusals.code == 1, refusals.output + refusals.extra["stdout"]
    lines = refusals.output.strip().splitlines()
    assert len(lines) == 1, refusals.output
    assert lines[0].startswith("error: Locust workers missing"), lines
    assert "--resume" in lines[0]
    # It says why: both refusals, named by the master.
    assert "the token was refused" in lines[0] and "scenario file sleep.py differs" in lines[0]
    info = cell_json(refusals.run_dir, "coroutine")
    assert info["status"] == "failed" and info["reason"].startswith("Locust workers missing")
    run = json.loads((refusals.run_dir / "run.json").read_text())
    assert run["status"] == "interrupted"


def test_refused_workers_records_are_not_in_the_run(refusals: Finished) -> None:
    info = cell_json(refusals.run_dir, "coroutine")
    admitted = {w["worker"] for w in info.get("loadgen_workers") or () if w["local"]}
    assert all(w["local"] for w in info.get("loadgen_workers") or ())
    for path in refusals.run_dir.rglob("*.parquet"):
        assert set(pd.read_parquet(path)["worker"]) <= admitted, path


def test_refused_workers_leave_nothing_running(refusals: Finished) -> None:
    assert refusals.leftovers == []
