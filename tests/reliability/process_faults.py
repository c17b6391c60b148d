"""Process faults during a suite, as a function returning figures: one process of the second
cell is SIGKILLed mid-load (the server, one forked server worker, one Locust worker, or the
backend). The figures: that cell's status and reason, whether the next cell ran, whether the
first cell's files stayed byte-identical, and whether anything was left running."""

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
name = "faults"
duration_s = 3
warmup_s = 0.5
variants = ["coroutine", "multiprocess", "threadpool"]
users = [6]

[server]
processes = 2

[[scenarios]]
name = "upstream"
params = { ms = 20 }
"""
CELLS = [f"{v}-asyncio-upstream-ms20-u6-r1" for v in ("coroutine", "multiprocess", "threadpool")]
# Which process of the second (multiprocess) cell is killed, found by its command line.
VICTIMS = ("server", "server worker", "locust worker", "backend")


@dataclass
class Fault:
    victim: str
    killed: bool
    status: str
    reason: str
    notes: str
    next_cell_status: str
    first_cell_unchanged: bool
    exit_status: int | None
    left_running: int


def _digest(cell_dir: Path) -> str:
    files = sorted(p for p in cell_dir.iterdir() if p.is_file())
    return hashlib.sha256(b"".join(p.name.encode() + p.read_bytes() for p in files)).hexdigest()


def _loading(root: psutil.Process) -> bool:
    """Whether a Locust process of the harness runs (the cell is loading)."""
    for proc in root.children():
        with contextlib.suppress(psutil.Error):
            if "locust" in " ".join(proc.cmdline()):
                return True
    return False


def _find(root: psutil.Process, victim: str) -> psutil.Process | None:
    """The victim among the harness's descendants while the second cell loads."""
    for proc in root.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            cmd = " ".join(proc.cmdline())
            parent = proc.parent()
            parent_cmd = " ".join(parent.cmdline()) if parent else ""
            if victim == "server" and "servers multiprocess" in cmd and "servers" not in parent_cmd:
                return proc
            if victim == "server worker" and "servers multiprocess" in parent_cmd:
                return proc
            if victim == "backend" and "servers backend" in cmd:
                return proc
            if victim == "locust worker" and "locust" in cmd and "--worker" in cmd:
                return (
                    proc  # a local worker of the cell's Locust master (harness/processes/locust.py)
                )
    return None


def process_fault(tmp: Path, victim: str) -> Fault:
    suite = tmp / "faults.toml"
    suite.write_text(SUITE)
    out = tmp / "results"
    argv = [sys.executable, "run_bench.py", "run", str(suite), "--out", str(out), "--quiet"]
    if victim == "locust worker":
        argv += ["--workers", "2"]
    popen = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = psutil.Process(popen.pid)
    seen: set[int] = set()
    killed = False
    first_digest = ""
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and popen.poll() is None and not killed:
            with contextlib.suppress(psutil.Error):
                seen |= {p.pid for p in root.children(recursive=True)}
            first = next(iter(out.glob(f"*/cells/{CELLS[0]}/cell.json")), None)
            loading = _loading(root)
            if (
                victim == "locust worker"
            ):  # its master must have exists_or_writing the load (the records)
                loading = loading and any(out.glob(f"*/cells/{CELLS[1]}/.requests.parquet.*"))
            if first is not None and loading:
                first_digest = first_digest or _digest(first.parent)
                time.sleep(1.5)  # well inside the second cell's load
                target = _find(root, victim)
                if target is not None:
                    target.kill()
                    killed = True
            time.sleep(0.05)
        popen.wait(timeout=120)
    finally:
        if popen.poll() is None:
            popen.kill()
            popen.wait()
        time.sleep(0.5)
        left = live(seen)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return _outcome(out, victim, killed, first_digest, popen.returncode, len(left))


def _outcome(
    out: Path, victim: str, killed: bool, first_digest: str, code: int | None, left: int
) -> Fault:
    import pandas as pd

    run_dir = next(out.iterdir())
    info = json.loads((run_dir / "cells" / CELLS[1] / "cell.json").read_text())
    summary = pd.read_csv(run_dir / "summary.csv").set_index("cell_id")
    nxt = json.loads((run_dir / "cells" / CELLS[2] / "cell.json").read_text())
    notes = summary.loc[CELLS[1], "notes"]
    return Fault(
        victim=victim,
        killed=killed,
        status=str(summary.loc[CELLS[1], "status"]),
        reason=str(info.get("reason", "")),
        notes="" if pd.isna(notes) else str(notes),
        next_cell_status=str(nxt["status"]),
        first_cell_unchanged=first_digest == _digest(run_dir / "cells" / CELLS[0]),
        exit_status=code,
        left_running=left,
    )
