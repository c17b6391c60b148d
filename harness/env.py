"""Small collect_*() functions for the environment recorded in run.json."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("tornado", "uvloop", "locust", "pandas", "pyarrow", "matplotlib", "psutil", "numpy")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


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


def collect_environment() -> dict[str, Any]:
    return {
        "cpu": collect_cpu(),
        "memory": collect_memory(),
        "os": collect_os(),
        "python": collect_python(),
        "packages": collect_packages(),
        "git": collect_git(),
    }
