"""What a master and a worker must share to work together (and what they compare when a
worker joins): the project's version and code, the scenario files, Locust's version and the
byte order of the record batches. A difference is named in one line on both sides."""

from __future__ import annotations

import hashlib
import hmac
import sys
import tomllib
from pathlib import Path
from typing import Any

import locust

ROOT = Path(__file__).resolve().parent.parent
SCENARIO_DIR = ROOT / "scenarios"
# The code that makes and carries records: a worker running other code here would record
# differently, whatever its version string says.
CODE_DIRS = ("loadgen", "record")


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def project_version() -> str:
    """The version in pyproject.toml, then a digest of the recording code: 0.1.0+3fa2c1d09e4b."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        version = tomllib.load(fh)["project"]["version"]
    code = [p for d in CODE_DIRS for p in (ROOT / d).glob("*.py")]
    return f"{version}+{_digest(code)}"


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def scenario_digests() -> dict[str, str]:
    """Each built-in scenario file of this checkout, by file name."""
    return {p.name: file_digest(p) for p in sorted(SCENARIO_DIR.glob("*.py"))}


def describe(token: str) -> dict[str, Any]:
    return {
        "token": token,
        "project": project_version(),
        "locust": locust.__version__,
        "byteorder": sys.byteorder,
        "scenarios": scenario_digests(),
    }


def differences(
    master: dict[str, Any], worker: dict[str, Any], scenario_files: list[str]
) -> list[str]:
    """Why a worker may not join (empty when it may). `scenario_files`: the names of the
    cell's built-in scenario files, which the worker loads from its own checkout."""
    if not hmac.compare_digest(str(worker.get("token", "")), str(master["token"])):
        return ["the token was refused"]
    found = []
    for key, what in (("project", "project version"), ("locust", "Locust version")):
        if worker.get(key) != master[key]:
            found.append(f"{what} differs (worker {worker.get(key)}, master {master[key]})")
    if worker.get("byteorder") != master["byteorder"]:
        found.append("byte order differs")
    theirs = worker.get("scenarios") or {}
    for name in scenario_files:
        if theirs.get(name) != master["scenarios"].get(name):
            found.append(
                f"scenario file {name} differs (worker {theirs.get(name, 'missing')}, "
                f"master {master['scenarios'].get(name)})"
            )
    return found
