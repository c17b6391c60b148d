"""Signals at random moments of a run, and a kill in the middle of writing results: nothing is
left running, nothing finished is lost, nothing is half-written, and a resume finishes.

A few fixed moments run in `make test`; the full series (20 SIGINT/SIGTERM moments, 5 SIGKILL
moments, 50 kills while writing) is marked slow and runs in `make test-reliability`."""

from __future__ import annotations

import random
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

from analysis.synthetic import write_synthetic_run
from tests.reliability.interrupts import Interrupted, check_results, interrupt_run, kill_report

pytestmark = pytest.mark.reliability
SEED = 1234


def _assert_clean(result: Interrupted) -> None:
    assert result.orphans == 0, result
    assert result.listening == 0, result
    assert result.cells_lost == 0, result
    assert result.resume_complete and result.resume_status in (0, 2), result
    if result.signal != "SIGKILL":
        assert result.exit_status in (0, 130, 2), result  # 0/2: it finished before the signal
        assert result.stop_s < 15, result


@pytest.mark.parametrize(
    ("sig", "at_s"),
    [(signal.SIGINT, 2.5), (signal.SIGTERM, 6.0), (signal.SIGKILL, 4.0)],
)
def test_a_signal_mid_run_leaves_nothing_and_resumes(
    tmp_path: Path, sig: signal.Signals, at_s: float
) -> None:
    _assert_clean(interrupt_run(tmp_path, sig, at_s))


# 25 interrupted runs and their resumes: about 12 s each, past pytest's 300 s default.
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_interrupts_at_random_moments(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    moments = [
        (rng.choice([signal.SIGINT, signal.SIGTERM]), rng.uniform(0.2, 14)) for _ in range(20)
    ]
    moments += [(signal.SIGKILL, rng.uniform(0.2, 14)) for _ in range(5)]
    for i, (sig, at_s) in enumerate(moments):
        _assert_clean(interrupt_run(tmp_path / str(i), sig, at_s))


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("syn") / "run"
    # Flat: the kill moments below were chosen on the report timing of ten-second cells.
    write_synthetic_run(path, cells=12, requests=120_000, flat=True)
    return path


def test_a_kill_while_writing_results_leaves_every_file_whole(
    small_run: Path, tmp_path: Path
) -> None:
    for i, at_s in enumerate((0.9, 1.6, 2.3)):
        run = shutil.copytree(small_run, tmp_path / str(i))
        result = kill_report(run, at_s)
        assert result.unreadable == 0 and result.report_rebuilt, result
        assert result.left_running == 0, result


@pytest.mark.slow
def test_kills_at_50_random_moments_of_writing(small_run: Path, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    run = shutil.copytree(small_run, tmp_path / "run")
    for _ in range(50):
        result = kill_report(run, rng.uniform(0.3, 4.0))
        assert result.unreadable == 0 and result.report_rebuilt, result
    files, bad, rebuilt = check_results(run)
    assert files > 0 and bad == 0 and rebuilt


def test_sigint_stops_a_harness_that_inherited_it_ignored(tmp_path: Path) -> None:
    """Started in the background by a shell, a process inherits SIGINT ignored; the harness
    must still stop on `kill -INT` (it was carrying the run on to its end, exit 0)."""
    import subprocess

    from tests.conftest import ROOT

    def ignore_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    argv = [sys.executable, "run_bench.py", "run", "smoke", "--out", str(tmp_path), "--quiet"]
    popen = subprocess.Popen(
        argv,
        cwd=ROOT,
        preexec_fn=ignore_sigint,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(2.5)
        popen.send_signal(signal.SIGINT)
        assert popen.wait(timeout=30) == 130
    finally:
        if popen.poll() is None:
            popen.kill()
            popen.wait()
