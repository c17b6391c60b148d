"""Small collect_*() functions for the environment recorded in run.json."""

from __future__ import annotations

import contextlib
import math
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from catalog.paths import PROJECT_ROOT
from record.run_meta import Environment

PACKAGES = ("tornado", "uvloop", "locust", "pandas", "pyarrow", "matplotlib", "psutil", "numpy")


def collect_cpu() -> dict[str, Any]:
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "model": model,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "machine": platform.machine(),
    }


def collect_memory() -> dict[str, Any]:
    import psutil

    return {"total_bytes": psutil.virtual_memory().total}


def collect_os() -> dict[str, Any]:
    return {"platform": platform.platform(), "hostname": socket.gethostname()}


def collect_python() -> dict[str, Any]:
    return {"version": platform.python_version(), "implementation": sys.implementation.name}


def collect_packages() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def collect_git() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"commit": "", "dirty": None}
    return {"commit": commit, "dirty": dirty}


# A fixed pure-Python workload (integer arithmetic in a loop, like /cpu): about 0.1 s here.
SPEED_LOOP_N = 400_000
SPEED_REPEATS = 3


def measure_speed() -> float:
    """Seconds the fixed loop takes on this machine now (the best of a few tries, so a
    momentary stall does not count). The machines this runs on drift by 15–40 % between runs
    minutes apart: a run that stores this at its start and end lets `compare` see it."""
    best = math.inf
    for _ in range(SPEED_REPEATS):
        started = time.perf_counter()
        x = 1
        for _ in range(SPEED_LOOP_N):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        best = min(best, time.perf_counter() - started)
    return best


@contextlib.contextmanager
def pinned(cpus: Iterable[int]) -> Iterator[None]:
    """This thread on the given cores for the duration (the speed loop next to a cell runs
    where the server under test runs, so it meets what slows the server); the cores it was
    allowed before are restored. Cores this process may not use are dropped; none left:
    unpinned."""
    before = os.sched_getaffinity(0)
    wanted = set(cpus) & before
    if wanted:
        os.sched_setaffinity(0, wanted)
    try:
        yield
    finally:
        if wanted:
            os.sched_setaffinity(0, before)


def collect_environment() -> Environment:
    """This machine and its software, as run.json records them."""
    return Environment.from_dict(
        {
            "cpu": collect_cpu(),
            "memory": collect_memory(),
            "os": collect_os(),
            "python": collect_python(),
            "packages": collect_packages(),
            "git": collect_git(),
        }
    )
