"""A harness killed hard leaves nothing behind, and a Ctrl-C is never lost.

SIGKILL cannot be caught, so the harness cannot clean up: the kernel must. Every process the
harness starts asks for PR_SET_PDEATHSIG (catalog/lifeline.py), and so do the processes those
fork (a multiprocess server's workers, Locust's workers)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness import placements
from harness.cell import CellOptions, run_cell
from harness.interrupts import signals_deferred
from harness.processes.procs import free_port, live
from harness.suite.parse import parse_suite
from record.records import CellRecord
from tests.conftest import ROOT

pytestmark = pytest.mark.reliability
# The promise: every child gone within 2 s of the harness's death.
DEATH_GRACE_S = 2.0

SUITE = """
name = "death"
duration_s = 20
warmup_s = 0.5
variants = ["multiprocess"]
users = [4]

[server]
processes = 2

[[scenarios]]
name = "upstream"
params = { ms = 20 }
"""


def _descendants(root: psutil.Process) -> dict[int, str]:
    out = {}
    for proc in root.children(recursive=True):
        try:
            out[proc.pid] = " ".join(proc.cmdline()[1:4])
        except psutil.NoSuchProcess:
            continue
    return out


def _wait_for(cond, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def test_sigkill_of_the_harness_leaves_no_process(tmp_path: Path) -> None:
    """Server leader, its forked workers, the backend, the Locust master and its forked
    workers: all gone within 2 s of a SIGKILL to the harness."""
    suite = tmp_path / "death.toml"
    suite.write_text(SUITE)
    popen = subprocess.Popen(
        [
            sys.executable,
            "run_bench.py",
            "run",
            str(suite),
            "--out",
            str(tmp_path / "r"),
            "--quiet",
            "--workers",
            "2",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    root = psutil.Process(popen.pid)
    seen: dict[int, str] = {}
    try:
        # Wait until the load runs: 2 server processes + backend + Locust master + 2 workers.
        def loading() -> bool:
            seen.update(_descendants(root))
            return sum("locust" in c for c in seen.values()) >= 3 and len(seen) >= 6

        assert _wait_for(loading, 60), seen
        time.sleep(0.5)
        seen.update(_descendants(root))
        popen.kill()
        popen.wait(timeout=10)
        killed_at = time.monotonic()
        gone = _wait_for(lambda: not live(set(seen)), DEATH_GRACE_S + 1.0)
        took = time.monotonic() - killed_at
    finally:
        for pid in live(set(seen)):  # never leave them to the next test
            with contextlib.suppress(ProcessLookupError):  # it may end between the two
                os.kill(pid, signal.SIGKILL)
    assert gone, {pid: seen[pid] for pid in live(set(seen))}
    assert took <= DEATH_GRACE_S + 0.5


def test_a_signal_while_results_are_written_is_deferred_not_lost() -> None:
    with pytest.raises(KeyboardInterrupt), signals_deferred():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler has run by now: the block is not torn
        finished = True
    assert finished


def test_ctrl_c_during_teardown_writes_the_cell_then_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cell's record is written whole, and the interrupt then reaches the runner (which
    exits 130 and can resume) instead of being ignored."""
    suite = parse_suite(
        {
            "name": "t",
            "duration_s": 1,
            "warmup_s": 0,
            "target": f"http://127.0.0.1:{free_port()}",  # nothing listens: the cell fails fast
            "users": [1],
            "scenarios": [{"name": "hello"}],
        },
        "t.toml",
    )
    (cell,) = suite.cells()
    real_write = CellRecord.write

    def write_with_ctrl_c(self: CellRecord, cell_dir: Path) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C mid-write
        time.sleep(0.05)
        real_write(self, cell_dir)

    monkeypatch.setattr(CellRecord, "write", write_with_ctrl_c)
    options = CellOptions(suite=suite, placement=placements.choose("split"))
    with pytest.raises(KeyboardInterrupt):
        run_cell(cell, tmp_path, options)
    record = CellRecord.read(tmp_path)
    assert record.status == "failed" and "verification failed" in record.reason
