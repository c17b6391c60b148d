"""The lag probe in real Locust processes (loadgen/lag.py through loadgen/local.py, master.py
and worker.py): a single process, a master and its workers each report how late their event
loop ran in loadgen.json, a few milliseconds at most when nothing blocks it and above 50 ms
when the test's Locust file blocks it on purpose; the records, written off the loop
(loadgen/writer.py), still match Locust's own count exactly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from record.loadgen_summary import LoadgenSummary, read_summary

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = Path(__file__).with_name("lag_locustfile.py")
PLUGIN = ROOT / "loadgen" / "locust_plugin.py"
# A Locust process's start (imports) and its window, with room for two busy cores.
RUN_TIMEOUT_S = 120
WINDOW = ["--bench-warmup", "0.3", "--bench-duration", "1.5", "--bench-tail", "0.1"]


def _env(block_ms: int, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BENCH_TOKEN": "lag-test",
        "BLOCK_HUB_MS": str(block_ms),
        **extra,
    }


def _locust(*args: str) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", f"{LOCUSTFILE},{PLUGIN}", *args]


def _load(out: Path, users: int) -> list[str]:
    return [
        "--headless",
        "--users",
        str(users),
        "--spawn-rate",
        "100",
        "--run-time",
        "30s",
        "--host",
        "http://127.0.0.1:9",
        "--only-summary",
        "--stop-timeout",
        "0",
        "--exit-code-on-error",
        "0",
        "--loglevel",
        "WARNING",
        "--bench-out",
        str(out),
        *WINDOW,
    ]


def _finish(procs: list[tuple[subprocess.Popen[bytes], Path]]) -> None:
    """Wait for every process (the first is the one that ends the run), then stop any that is
    left, group and all; each must have exited cleanly (its log says why not)."""
    try:
        procs[0][0].wait(timeout=RUN_TIMEOUT_S)
        for proc, _ in procs[1:]:
            proc.wait(timeout=30)
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    for proc, log in procs:
        assert proc.returncode == 0, log.read_text()


def _start(argv: list[str], env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """A Locust process in its own group, its output in `log` (no pipe to fill)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return proc, log


def _summary(out: Path) -> LoadgenSummary:
    summary = read_summary(out)
    assert summary is not None
    # Written off the loop, every record is there: as many as Locust counted.
    assert summary.records == summary.locust_requests > 100
    return summary


def run_local(out: Path, block_ms: int) -> LoadgenSummary:
    _finish([_start(_locust(*_load(out, users=4)), _env(block_ms), out / "locust.log")])
    return _summary(out)


def test_a_single_process_reports_a_free_loop(tmp_path: Path) -> None:
    (worker,) = run_local(tmp_path, block_ms=0).workers
    lag = worker.lag
    assert lag.samples > 50  # about a hundred a second of the 1.5 s window
    assert lag.p50_ms < 3.0, lag
    assert lag.p99_ms <= lag.max_ms and lag.cpu_busiest_pct > 0


def test_a_single_process_reports_a_blocked_loop(tmp_path: Path) -> None:
    (worker,) = run_local(tmp_path, block_ms=80).workers
    assert worker.lag.max_ms > 60.0 and worker.lag.p99_ms > 50.0, worker.lag


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_master_and_its_workers_each_report_their_own_loop(tmp_path: Path) -> None:
    """The workers block their loops; the master's own stays free, and says so apart."""
    port = _free_port()
    master_args = [
        "--master",
        "--master-bind-host",
        "127.0.0.1",
        "--master-bind-port",
        str(port),
        "--expect-workers",
        "2",
        "--expect-workers-max-wait",
        "60",
    ]
    logs = tmp_path / "logs"
    logs.mkdir()
    # The workers hold their loops 150 ms at a time; the master's must read far less: on two
    # busy cores a free loop still waits its turn for the CPU now and then (tens of ms).
    master = _start(_locust(*_load(tmp_path, users=4), *master_args), _env(150), logs / "master")
    worker_args = ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
    env = _env(150, BENCH_LOCAL_WORKER="1")
    workers = [
        _start(_locust(*worker_args, "--loglevel", "WARNING"), env, logs / f"worker{k}")
        for k in range(2)
    ]
    _finish([master, *workers])
    summary = _summary(tmp_path)
    assert summary.problems == () and len(summary.workers) == 2
    for worker in summary.workers:
        assert worker.lag.samples > 50 and worker.lag.max_ms > 120.0, worker.lag
    assert summary.master_lag.samples > 50
    assert summary.master_lag.p50_ms < 3.0 and summary.master_lag.max_ms < 100.0
    on_disk = json.loads((tmp_path / "loadgen.json").read_text())
    assert on_disk["master_lag"]["samples"] == summary.master_lag.samples
