"""The server's profile over each cell's window, on real servers under real load (README,
"Profiles"): what it finds on known work, every process of a tree, the GIL, its sample
count, and that no py-spy is ever left behind (a cell's end, Ctrl-C, SIGKILL of the harness)
or started when profiling is off."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from analysis.profile import data
from analysis.profile.data import CPU_VIEW, WALL_VIEW
from analysis.profile.frames import LOOP
from analysis.profile.generator import summary_lines
from analysis.profile.shares import self_time
from harness import placements
from harness.calibrate import calibration_suite
from harness.cell import CellOptions, run_cell
from harness.processes import procs, profiler
from harness.suite.parse import parse_suite
from record.layout import CellLayout, RunLayout
from record.profile import GENERATOR, VIEWS, ProfileRecord, ProfileSettings
from record.records import CellRecord
from tests.conftest import ROOT

RATE_HZ = 100
SUITE = f"""
name = "profiled"
duration_s = 2
warmup_s = 0.5
users = [4]
variants = ["sync", "threadpool", "coroutine", "processpool"]

[server]
threads = 4
pool_processes = 2

[profile]
rate_hz = {RATE_HZ}

[[scenarios]]
name = "cpu"
params = {{ n = 20000 }}
variants = ["sync", "threadpool", "processpool"]

[[scenarios]]
name = "sleep"
params = {{ ms = 20 }}
variants = ["sync", "coroutine"]
"""
CPU_LOOP = "catalog.payloads.cpu_work"  # the project's CPU loop (catalog/payloads.py)
# Tornado's production pattern: bind, then fork one process per core (here 2).
FORKING = """
import sys
import tornado.web
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop
from tornado.netutil import bind_sockets
from tornado.process import fork_processes

class Any(tornado.web.RequestHandler):
    def get(self, _):
        self.write("Hello, world")

sockets = bind_sockets(int(sys.argv[1]), "127.0.0.1")
fork_processes(2)
server = HTTPServer(tornado.web.Application([(r"/(.*)", Any)]))
server.add_sockets(sockets)
IOLoop.current().start()
"""


Cells = dict[str, tuple[CellRecord, Path]]


def run_cells(suite_text: str, folder: Path) -> Cells:
    """Every cell of the suite, run in this process as a run runs them, by strategy-scenario."""
    suite = parse_suite(tomllib.loads(suite_text), str(folder / "suite.toml"))
    options = CellOptions(suite, placements.choose(suite.placement))
    out = {}
    for cell in suite.cells():
        cell_dir = folder / cell.cell_id
        out[f"{cell.strategy}-{cell.scenario}"] = (run_cell(cell, cell_dir, options), cell_dir)
    return out


@pytest.fixture(scope="module")
def cells(tmp_path_factory: pytest.TempPathFactory) -> Cells:
    return run_cells(SUITE, tmp_path_factory.mktemp("profiled"))


def profile_of(cells: Cells, key: str) -> data.CellProfile:
    record, cell_dir = cells[key]
    assert record.status == "ok", record.reason
    profile = data.load(cell_dir, key)
    assert profile is not None and profile.record.ok, profile
    return profile


def test_a_cpu_cells_top_self_frame_is_the_cpu_loop_with_most_samples(cells: Cells) -> None:
    profile = profile_of(cells, "sync-cpu")
    top = self_time(profile.view(CPU_VIEW), profile.roots)
    assert top[0].label == CPU_LOOP, top[:3]
    assert top[0].share > 0.5, top[:3]


def test_a_sleep_cell_shows_the_blocking_sleep_on_sync_and_the_idle_loop_on_coroutine(
    cells: Cells,
) -> None:
    sync = profile_of(cells, "sync-sleep")
    (top, *_) = self_time(sync.view(WALL_VIEW), sync.roots)
    assert top.label == "servers.work.blocking_sleep", top
    coroutine = profile_of(cells, "coroutine-sleep")
    (top, *_) = self_time(coroutine.view(WALL_VIEW), coroutine.roots)
    assert top.layer == LOOP and top.label.startswith("selectors."), top


def test_processpools_profile_includes_its_worker_processes(cells: Cells) -> None:
    profile = profile_of(cells, "processpool-cpu")
    root = profile.record.root_pid
    workers = [p for p in profile.record.processes if p.parent is not None]
    assert len(workers) >= 2, profile.record.processes
    looping = {s.pid for s in profile.view(CPU_VIEW) if s.leaf and s.leaf.name == "cpu_work"}
    assert len(looping - {root}) >= 2, looping  # the loop runs in the workers, not the server


def test_gil_wait_is_reported_for_threadpool_on_cpu_and_clearly_above_sync(cells: Cells) -> None:
    def waiting(key: str) -> float:
        return sum(p.gil_wait for p in profile_of(cells, key).record.processes)

    threadpool, sync = waiting("threadpool-cpu"), waiting("sync-cpu")
    assert threadpool >= 0.3, threadpool  # threads, on average: 4 threads, one GIL
    assert threadpool > 3 * sync, (threadpool, sync)


def test_sample_count_matches_rate_times_window(cells: Cells) -> None:
    """py-spy draws the gaps between its samples from an exponential distribution (its
    src/timer.rs, against aliasing), so a window's count is Poisson with mean rate × window:
    200 ± 14 here. Five standard deviations fail an honest count about once in two million
    cells, and still catch a rate or a window that is off by 40 %."""
    for key, (record, cell_dir) in cells.items():
        profile = ProfileRecord.read(cell_dir)
        assert record.window is not None and profile is not None, key
        expected = RATE_HZ * record.window.duration_s
        # Ticks read or lost (a stack that changed while py-spy read it): what it sampled.
        taken = profile.attempted
        assert abs(taken - expected) <= 5 * math.sqrt(expected), (key, taken, expected)
        assert profile.read_share > 0.5, (key, profile.wall_errors)


def test_each_cell_keeps_stacks_speedscope_and_no_py_spy_after_it(cells: Cells) -> None:
    """Every view's stacks are kept. The wall view has samples in every cell; the GIL (CPU) view
    only where the server holds the GIL often enough: a sync server sleeping 20 ms a request
    holds it a few per cent of the time, so its 200 or so samples may honestly hold none."""
    for key, (record, cell_dir) in cells.items():
        layout = CellLayout(cell_dir)
        assert all(layout.profile_stacks(v).exists() for v in VIEWS), key
        assert layout.profile_stacks(WALL_VIEW).stat().st_size > 0, key
        if key.endswith("-cpu"):
            assert layout.profile_stacks(CPU_VIEW).stat().st_size > 0, key
        assert layout.speedscope.exists(), key
        spies = {pid for name, pid in record.pids.items() if name.startswith("profiler-")}
        assert len(spies) == 2, record.pids
        assert procs.live(spies) == set(), key
        assert record.leftover_pids == (), key


def test_an_app_that_forks_is_profiled_in_each_process(tmp_path: Path) -> None:
    (tmp_path / "forking_app.py").write_text(FORKING)
    suite = (
        'name = "forks"\nduration_s = 2\nwarmup_s = 0.5\nusers = [2]\n\n'
        f'[[apps]]\nname = "forking"\ncommand = ["{{python}}", "forking_app.py", "{{port}}"]\n'
        f'cwd = "{tmp_path}"\nhealth = "/health"\n\n[[scenarios]]\nname = "hello"\n'
    )
    ((record, cell_dir),) = run_cells(suite, tmp_path).values()
    assert record.status == "ok", record.reason
    profile = ProfileRecord.read(cell_dir)
    assert profile is not None and profile.ok, profile
    assert len(profile.processes) == 3, profile.processes  # the parent and its 2 forks
    assert all(p.ticks > 0 for p in profile.processes), profile.processes
    children = [p for p in profile.processes if p.parent is not None]
    assert sum(p.gil_samples for p in children) > 0  # the forks serve


def descendants_named(root: psutil.Process, word: str) -> set[int]:
    """The descendants whose command line holds `word`; none once root has exited (a watcher
    may look once more after the run ends)."""
    found: set[int] = set()
    try:
        children = root.children(recursive=True)
    except psutil.NoSuchProcess:
        return found
    for proc in children:
        try:
            if word in " ".join(proc.cmdline()):
                found.add(proc.pid)
        except psutil.Error:
            continue
    return found


def wait_for(cond: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def test_a_run_with_profiling_off_has_no_profile_files_and_no_py_spy(tmp_path: Path) -> None:
    suite = tmp_path / "off.toml"
    suite.write_text(
        'name = "off"\nduration_s = 1\nwarmup_s = 0.5\nusers = [2]\nvariants = ["coroutine"]\n'
        '[[scenarios]]\nname = "hello"\n'
    )
    argv = [sys.executable, "run_bench.py", "run", str(suite), "--out", str(tmp_path / "r")]
    popen = subprocess.Popen([*argv, "--quiet", "--no-profile"], cwd=ROOT, text=True)
    root, spies, done = psutil.Process(popen.pid), set(), threading.Event()

    def watch() -> None:
        while not done.is_set():
            spies.update(descendants_named(root, "py-spy"))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        assert popen.wait(timeout=120) == 0
    finally:
        done.set()
        watcher.join()
        if popen.poll() is None:
            popen.kill()
    assert spies == set()
    (cell_dir,) = (tmp_path / "r").glob("*/cells/*")
    assert not [p.name for p in cell_dir.iterdir() if p.name.startswith("profile")]


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "sigkill"])
def test_no_py_spy_outlives_a_ctrl_c_or_a_sigkill_of_the_harness(
    tmp_path: Path, how: signal.Signals
) -> None:
    suite = tmp_path / "long.toml"
    suite.write_text(
        'name = "long"\nduration_s = 30\nwarmup_s = 0.5\nusers = [2]\nvariants = ["sync"]\n'
        '[[scenarios]]\nname = "hello"\n'
    )
    argv = [sys.executable, "run_bench.py", "run", str(suite), "--out", str(tmp_path / "r")]
    popen = subprocess.Popen(
        [*argv, "--quiet"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    root, spies = psutil.Process(popen.pid), set()
    try:

        def profiling() -> bool:
            spies.update(descendants_named(root, "py-spy"))
            return len(spies) >= 2

        assert wait_for(profiling, 60), spies
        os.kill(popen.pid, how)
        popen.wait(timeout=30)
        gone = wait_for(lambda: not procs.live(spies), 3.0)
    finally:
        for pid in procs.live(spies):  # never leave them to the next test
            os.kill(pid, signal.SIGKILL)
        if popen.poll() is None:
            popen.kill()
            popen.wait()
    assert gone, procs.live(spies)
    if how == signal.SIGINT:
        assert popen.returncode == 130


def test_calibrate_profile_samples_the_locust_side(tmp_path: Path) -> None:
    """calibrate --profile's cells sample Locust (from the server's cores), and keep their
    profiles when the calibration's folder goes."""
    suite = calibration_suite(1.0, 1)
    assert not suite.profile.enabled  # calibrate's own cells: the generator undisturbed
    suite = replace(suite, profile=ProfileSettings(target=GENERATOR))
    cell = next(c for c in suite.round(1) if c.strategy == "coroutine")
    run = RunLayout(tmp_path / "run")
    record = run_cell(
        cell, run.cell(cell.cell_id).root, CellOptions(suite, placements.choose("split"))
    )
    assert record.status == "ok", record.reason
    (kept,) = profiler.keep(run, tmp_path / "kept")
    profile = data.load(kept)
    assert profile is not None and profile.record.ok and profile.record.target == GENERATOR
    assert "locust" in profile.record.processes[0].command
    labels = {s.label for s in self_time(profile.view(WALL_VIEW), profile.roots)}
    assert any(label.startswith(("gevent.", "locust.")) for label in labels), labels
    lines = summary_lines(tmp_path / "kept")
    assert lines[0].startswith("generator profile (1 cells") and "CPU by layer" in lines[1]
    assert (tmp_path / "kept" / "generator-wall.svg").stat().st_size > 0
    # The CPU view's graph where py-spy caught Locust holding the GIL (a busy machine's short
    # cell may give it none: then no file, and the line says which were written).
    cpu = tmp_path / "kept" / "generator-cpu.svg"
    assert not cpu.exists() or cpu.stat().st_size > 0
    assert str(tmp_path / "kept" / "generator-wall.svg") in lines[-1]
