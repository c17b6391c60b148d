"""The virtual environments of a suite's `[[environments]]` (harness/suite/environments.py):
one per entry, built once and kept under a cache folder keyed by its contents (the
interpreter's own path and version, and every package it gets), so a second run reuses it and
a changed pin builds a new one. The packages come from requirements-server.txt, with an
entry's pins in place of the same packages: what the servers need, never Locust or the
analysis, which stay in the harness's own environment.

Wheels are fetched once into the cache's wheelhouse and every install reads them from there
(`pip install --no-index`), so a cached environment builds again without the network. A package
that cannot be had is refused before the first cell, in one line naming it.

What each environment runs is recorded in run.json (record/run_meta.py EnvironmentInfo): its
interpreter's version and build (free-threaded, whether the GIL is on) and every package's
version, read from inside the environment."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from catalog.paths import PROJECT_ROOT
from harness.suite.environments import EnvironmentEntry
from record import io
from record.errors import UserError
from record.run_meta import EnvironmentInfo

SERVER_REQUIREMENTS = PROJECT_ROOT / "requirements-server.txt"
# Installing into a new environment: minutes at worst on a slow index; a hung pip is stopped.
PIP_TIMEOUT_S = 900.0
READY_FILE = "ready.json"
# The packages whose versions each environment reports (beside those its pins name).
REPORTED = ("tornado", "uvloop", "psutil", "psycopg", "psycopg-binary", "psycopg-pool", "pycurl")
# Asked of the environment's own interpreter: what it is and what it has.
PROBE = """
import json, platform, sys, sysconfig
from importlib import metadata
names = json.loads(sys.argv[1])
versions = {}
for name in names:
    try:
        versions[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        pass
gil = getattr(sys, "_is_gil_enabled", lambda: True)()
print(json.dumps({
    "python_version": platform.python_version(),
    "implementation": sys.implementation.name,
    "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    "gil_enabled": bool(gil),
    "packages": versions,
}))
"""


def cache_root() -> Path:
    """TORNADO_BENCH_ENVIRONMENTS, else the user's cache folder (XDG)."""
    given = os.environ.get("TORNADO_BENCH_ENVIRONMENTS")
    if given:
        return Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tornado-bench" / "environments"


def _project_name(requirement: str) -> str:
    """'psycopg[binary]==3.3.9' → 'psycopg' (normalised as pip does)."""
    name = re.split(r"[\[=<>!~ ]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(entry: EnvironmentEntry) -> list[str]:
    """requirements-server.txt with the entry's pins in place of the same packages, and its
    other pins added: what its environment gets."""
    pins = {_project_name(p): p for p in entry.packages}
    base = []
    for line in SERVER_REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            base.append(pins.pop(_project_name(line), line))
    return [*base, *pins.values()]


def key_of(entry: EnvironmentEntry) -> str:
    """What makes two environments the same: the interpreter and every requirement."""
    real = os.path.realpath(entry.python)
    text = json.dumps([real, _stamp(Path(real)), sorted(requirements(entry))])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _stamp(python: Path) -> str:
    """The interpreter's file as it is now (a reinstalled Python is another environment)."""
    try:
        st = python.stat()
    except OSError:
        return ""
    return f"{st.st_size}:{int(st.st_mtime)}"


@dataclass(frozen=True)
class Built:
    """An environment ready to run servers: its own interpreter and what it runs."""

    python: Path
    info: EnvironmentInfo


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One builder of a folder at a time (two runs may start together)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{folder.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pip(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", "--no-input", *args],
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT_S,
    )


def _refusal(name: str, result: subprocess.CompletedProcess[str]) -> UserError:
    """pip's own reason, in one line (its last error line names the package)."""
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    said = [line for line in lines if line.startswith("ERROR:")] or lines or ["pip failed"]
    return UserError(f"environment {name}: cannot install its packages: {said[-1][:300]}")


def probe(python: Path, names: list[str]) -> EnvironmentInfo:
    result = subprocess.run(
        [str(python), "-c", PROBE, json.dumps(names)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise UserError(f"{python}: cannot be asked what it runs: {result.stderr.strip()[-300:]}")
    data = json.loads(result.stdout)
    return EnvironmentInfo(
        name="",
        python=str(python),
        python_version=str(data["python_version"]),
        implementation=str(data["implementation"]),
        free_threaded=bool(data["free_threaded"]),
        gil_enabled=bool(data["gil_enabled"]),
        packages={str(k): str(v) for k, v in data["packages"].items()},
        key="",
        pins=(),
    )


def build(entry: EnvironmentEntry, root: Path, say: Callable[[str], None]) -> Built:
    """The entry's environment, built now or reused from the cache."""
    key = key_of(entry)
    folder = root / f"{entry.name}-{key}"
    venv, ready = folder / "venv", folder / READY_FILE
    python = venv / "bin" / "python"
    with _locked(folder):
        if ready.exists() and python.exists():
            say(f"environment {entry.name}: reused ({folder})")
        else:
            say(f"environment {entry.name}: building in {folder} (the first time only)")
            _make(entry, folder, python, root / "wheels")
            io.write_json(ready, {"key": key, "python": entry.python})
    names = sorted({*REPORTED, *(_project_name(p) for p in entry.packages)})
    info = probe(python, names)
    return Built(python, replace(info, name=entry.name, key=key, pins=entry.packages))


def _make(entry: EnvironmentEntry, folder: Path, python: Path, wheels: Path) -> None:
    """A fresh venv with the entry's requirements, from the wheelhouse (filled from the package
    index the first time a wheel is wanted)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    made = subprocess.run(
        [entry.python, "-m", "venv", str(folder / "venv")],
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT_S,
    )
    if made.returncode != 0:
        raise UserError(
            f"environment {entry.name}: {entry.python} cannot make a venv: "
            f"{made.stderr.strip()[-300:]}"
        )
    wanted = requirements(entry)
    wheels.mkdir(parents=True, exist_ok=True)
    offline = _pip(python, "install", "--quiet", "--no-index", "--find-links", str(wheels), *wanted)
    if offline.returncode == 0:
        return
    fetched = _pip(python, "download", "--quiet", "--dest", str(wheels), *wanted)
    if fetched.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise _refusal(entry.name, fetched)
    installed = _pip(
        python, "install", "--quiet", "--no-index", "--find-links", str(wheels), *wanted
    )
    if installed.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise _refusal(entry.name, installed)


def build_all(
    entries: tuple[EnvironmentEntry, ...], say: Callable[[str], None], root: Path | None = None
) -> dict[str, Built]:
    """Every environment of a suite, by name, before its first cell."""
    root = root or cache_root()
    return {entry.name: build(entry, root, say) for entry in entries}
