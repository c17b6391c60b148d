"""Attacks on a running harness, as plain functions returning figures: the tests assert on
them and tests/reliability/figures.py prints them.

- interrupt_run: SIGINT, SIGTERM or SIGKILL at a given moment of a small suite, then
  `run --resume`: orphans, ports still listening, completed cells lost, exit status, and
  whether the resume completed the run.
- kill_report: SIGKILL `run_bench.py report` at a given moment of writing its results: every
  file left behind must still be whole (readable by load_run and by a rebuilt report).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from harness.processes.procs import live
from tests.conftest import ROOT

SUITE = """
name = "intr"
duration_s = 1.5
warmup_s = 0.3
variants = ["sync", "coroutine", "multiprocess"]
users = [4]

[server]
processes = 2

[[scenarios]]
name = "upstream"
params = { ms = 10 }
"""
# The promise for every child: gone within 2 s of the harness (README: Ctrl-C, SIGTERM and SIGKILL).
GONE_WITHIN_S = 2.0


@dataclass
class Interrupted:
    signal: str
    at_s: float
    exit_status: int | None
    stop_s: float  # signal → harness exit
    orphans: int
    listening: int
    cells_done_before: int
    cells_lost: int
    resume_status: int
    resume_complete: bool


def _descendants(root: psutil.Process) -> set[int]:
    with contextlib.suppress(psutil.NoSuchProcess):
        return {p.pid for p in root.children(recursive=True)}
    return set()


def _done_cells(out: Path) -> dict[str, str]:
    """Finished cells (their cell.json says so) and a digest of their files."""
    done = {}
    for info in out.glob("*/cells/*/cell.json"):
        with contextlib.suppress(ValueError, OSError):
            if json.loads(info.read_text()).get("status") in ("ok", "failed"):
                files = sorted(p for p in info.parent.iterdir() if p.is_file())
                digest = hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()
                done[info.parent.name] = digest
    return done


def _listening(pids: set[int]) -> int:
    count = 0
    for conn in psutil.net_connections(kind="tcp"):
        if conn.pid in pids and conn.status == psutil.CONN_LISTEN:
            count += 1
    return count


def interrupt_run(tmp: Path, sig: signal.Signals, at_s: float) -> Interrupted:
    """Start the small suite, send `sig` `at_s` seconds in, then resume the run."""
    tmp.mkdir(parents=True, exist_ok=True)  # a folder per attack in a series
    suite = tmp / "intr.toml"
    suite.write_text(SUITE)
    out = tmp / "results"
    argv = [sys.executable, "run_bench.py", "run", str(suite), "--out", str(out), "--quiet"]
    popen = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = psutil.Process(popen.pid)
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + at_s
        while time.monotonic() < deadline and popen.poll() is None:
            seen |= _descendants(root)
            time.sleep(0.02)
        seen |= _descendants(root)
        before = _done_cells(out)
        sent = time.monotonic()
        popen.send_signal(sig)
        popen.wait(timeout=60)
        stop_s = time.monotonic() - sent
        settle = time.monotonic() + GONE_WITHIN_S
        while live(seen) and time.monotonic() < settle:
            time.sleep(0.05)
        orphans, listening = live(seen), _listening(live(seen))
    finally:
        for pid in live(seen):  # never leave them to the next attack
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if popen.poll() is None:
            popen.kill()
            popen.wait()
    after = _done_cells(out)
    lost = sum(1 for cell, digest in before.items() if after.get(cell) != digest)
    resumed = _resume(out)
    return Interrupted(
        signal=sig.name,
        at_s=at_s,
        exit_status=popen.returncode,
        stop_s=stop_s,
        orphans=len(orphans),
        listening=listening,
        cells_done_before=len(before),
        cells_lost=lost,
        resume_status=resumed[0],
        resume_complete=resumed[1],
    )


def _resume(out: Path) -> tuple[int, bool]:
    runs = list(out.glob("*/run.json")) if out.exists() else []
    if not runs:  # interrupted before run.json existed: nothing to resume, nothing lost
        return 0, True
    run_dir = runs[0].parent
    result = subprocess.run(
        [sys.executable, "run_bench.py", "run", "--resume", str(run_dir), "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    status = json.loads((run_dir / "run.json").read_text()).get("status")
    cells = json.loads((run_dir / "run.json").read_text()).get("cells", [])
    complete = status == "complete" and len(_done_cells(out)) == len(cells)
    return result.returncode, complete


@dataclass
class KilledWrite:
    at_s: float
    left_running: int  # the report's own children (chart workers) still alive 2 s later
    files: int
    unreadable: int
    report_rebuilt: bool


def kill_report(run_dir: Path, at_s: float) -> KilledWrite:
    """SIGKILL `report` at_s seconds into writing, then check every file it left."""
    popen = subprocess.Popen(
        [sys.executable, "run_bench.py", "report", str(run_dir), "--quiet"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    root = psutil.Process(popen.pid)
    seen: set[int] = set()
    deadline = time.monotonic() + at_s
    while time.monotonic() < deadline and popen.poll() is None:
        seen |= _descendants(root)
        time.sleep(0.02)
    popen.kill()
    popen.wait()
    settle = time.monotonic() + GONE_WITHIN_S
    while live(seen) and time.monotonic() < settle:
        time.sleep(0.05)
    left = live(seen)
    for pid in left:  # never leave them behind
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return KilledWrite(at_s, len(left), *check_results(run_dir))


def check_results(run_dir: Path) -> tuple[int, int, bool]:
    """(files, unreadable files, whether load_run and a rebuilt report still work)."""
    import pandas as pd
    from PIL import Image

    from analysis.load import load_run
    from analysis.report.build import build_report

    files = [p for p in run_dir.rglob("*") if p.is_file()]
    bad = 0
    for path in files:
        try:
            if path.suffix == ".json":
                json.loads(path.read_text())
            elif path.suffix == ".parquet":
                pd.read_parquet(path)
            elif path.suffix == ".csv":
                pd.read_csv(path)
            elif path.suffix == ".png":
                Image.open(path).verify()
            elif path.suffix in (".html", ".svg"):
                text = path.read_text()
                bad += not text.rstrip().endswith(("</html>", "</svg>"))
        except Exception:
            bad += 1
    try:
        load_run(run_dir)
        build_report(run_dir)
        rebuilt = True
    except Exception:
        rebuilt = False
    return len(files), bad, rebuilt
