"""`[[environments]]`: the same suite across Python, Tornado and uvloop versions. Each entry
names an interpreter and pinned packages; the harness builds one virtual environment per entry
(harness/environments.py) and runs the servers and apps of that entry's cells in it, while
Locust and the analysis stay in the harness's own. An entry is one more dimension of the
cell matrix (its name in the cell id), interleaved within each repeat so a drift of the
machine hits every environment alike.

Everything is checked when the suite is read: the interpreter must be found (a path, or a
version this machine has on PATH or under pyenv), every package pinned with ==."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.suite.apps import NAME_RE
from harness.suite.checks import Checker

ENVIRONMENT_KEYS = {"name", "python", "packages"}
# A version as people write it: 3.12, 3.12.1, and a free-threaded build's 3.14t.
VERSION_RE = re.compile(r"^3\.\d{1,2}(\.\d{1,2})?t?$")
# name==version, extras allowed (psycopg[binary]==3.3.9): an environment is reproducible only
# when every package it changes is pinned.
PIN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?==[A-Za-z0-9.+!_-]+$")
PROBE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class EnvironmentEntry:
    name: str
    python: str  # the interpreter's absolute path, found when the suite was read
    packages: tuple[str, ...] = ()  # name==version pins, in place of requirements-server.txt's

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnvironmentEntry:
        return cls(str(data["name"]), str(data["python"]), tuple(data.get("packages") or ()))


def pyenv_roots() -> list[Path]:
    """Where pyenv keeps its interpreters (PYENV_ROOT, else ~/.pyenv)."""
    root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    return [Path(root) / "versions"]


def find_python(wanted: str) -> Path | None:
    """An interpreter for `wanted`: a path as given, or a version (3.12, 3.12.1, 3.14t) found
    as python3.12 on PATH or as a pyenv version starting with it (the highest)."""
    if not VERSION_RE.match(wanted):
        path = Path(wanted).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            return None
        version, real = _identify(path)
        return real if version else None
    free_threaded = wanted.endswith("t")
    base = wanted.removesuffix("t")
    minor = ".".join(base.split(".")[:2])
    on_path = shutil.which(f"python{minor}{'t' if free_threaded else ''}")
    candidates = []
    for root in pyenv_roots():
        found = sorted(
            (
                p
                for p in root.glob(f"{base}*")
                if (p / "bin" / "python").is_file()
                and p.name.removesuffix("t") in (base, *[f"{base}.{i}" for i in range(100)])
                and p.name.endswith("t") == free_threaded
            ),
            key=lambda p: [int(x) if x.isdigit() else 0 for x in re.split(r"[.t]", p.name)],
            reverse=True,
        )
        candidates += [p / "bin" / f"python{minor}t" if free_threaded else p / "bin" / "python"
                       for p in found]  # fmt: skip
    candidates += [Path(on_path)] if on_path else []
    for path in candidates:
        version, real = _identify(path)
        if version == base or version.startswith(base + "."):
            return real
    return None


def _identify(python: Path) -> tuple[str, Path]:
    """(its version, the interpreter's own path): a launcher (a pyenv shim, a symlink) is
    replaced by what it runs, so the environment's key follows the interpreter."""
    code = "import platform, sys; print(platform.python_version()); print(sys.executable)"
    try:
        out = subprocess.run(
            [str(python), "-c", code], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S
        )
    except (OSError, subprocess.SubprocessError):
        return "", python
    lines = out.stdout.split("\n")
    if out.returncode != 0 or len(lines) < 2:
        return "", python
    return lines[0].strip(), Path(lines[1].strip())


def parse_environments(c: Checker, value: Any) -> tuple[EnvironmentEntry, ...]:
    if not isinstance(value, list) or not value:
        raise c.fail("environments", "must be a list of [[environments]] tables")
    out: list[EnvironmentEntry] = []
    for i, table in enumerate(value, 1):
        where = f"environments[{i}]"
        if not isinstance(table, dict):
            raise c.fail(where, f"must be a table with: {', '.join(sorted(ENVIRONMENT_KEYS))}")
        c.keys(table, ENVIRONMENT_KEYS, f"{where}.")
        name = table.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise c.fail(f"{where}.name", "must be 1-40 letters, digits, '-' or '_'")
        if any(e.name == name for e in out):
            raise c.fail(f"{where}.name", f"{name!r} is given twice")
        wanted = table.get("python")
        if not isinstance(wanted, str) or not wanted:
            raise c.fail(f"{where}.python", 'must be an interpreter path or a version, e.g. "3.12"')
        python = find_python(wanted)
        if python is None:
            how = (
                f"no python{wanted} on PATH and no pyenv version {wanted}"
                if VERSION_RE.match(wanted)
                else "no such executable file"
            )
            raise c.fail(f"{where}.python", f"{wanted}: {how}; install it or give its path")
        packages = table.get("packages", [])
        if not isinstance(packages, list) or not all(
            isinstance(p, str) and PIN_RE.match(p) for p in packages
        ):
            raise c.fail(
                f"{where}.packages",
                'must be a list of pinned packages, e.g. ["tornado==6.5.2", "uvloop==0.21.0"]',
            )
        out.append(EnvironmentEntry(name, str(python), tuple(packages)))
    return tuple(out)
