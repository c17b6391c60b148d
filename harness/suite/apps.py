"""A user's own service as a subject of the suite (`[[apps]]`): how it is started, where it
answers, and the checks that refuse a bad table before anything starts.

An app is started per cell exactly like a built-in variant (its own session, its cores, CPU
and RSS sampled over its whole process tree, stopped by group), but the harness knows nothing
of its strategy: the model gives it no bound, only a CPU capacity (analysis/model.py).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalog.strategies import BACKEND, TARGET, VARIANT_NAMES
from harness.suite.checks import Checker

APP_KEYS = {
    "name",
    "command",
    "health",
    "health_status",
    "health_method",
    "ready_log",
    "env",
    "cwd",
    "processes_hint",
}
PORT = "{port}"  # replaced by the free port the harness picked for the cell
# Replaced by the Python of the cell's [[environments]] entry, else the one running the
# harness (it has Tornado and Locust).
PYTHON = "{python}"
# An app's name becomes part of a cell id, hence of a folder name; '+' separates a built-in
# strategy from its options (CellSpec.variant, record.schema.VARIANT_JOIN), so it is not allowed here.
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
# Names the harness already gives a meaning to: the built-in strategies, a running target and
# the upstream backend (its log is backend.log in the same cell folder).
RESERVED = (*VARIANT_NAMES, TARGET, BACKEND)
# health = "tcp": ready once its port accepts a connection (an app that answers no GET
# with 200, e.g. a receiver that only takes POST and says 405 to anything else).
TCP = "tcp"
# Methods a readiness probe may send: none of them has a body or changes anything.
HEALTH_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Readiness:
    """When a started app is ready for load, every given condition holding in this order:
    a line of its log matching `log` (a regex; "" for none), then `health` — a path answering
    `method` with one of `statuses`, "tcp" (its port accepts a connection) or "" (no probe:
    only allowed beside a log line)."""

    health: str = "/"
    statuses: tuple[int, ...] = (200,)
    method: str = "GET"
    log: str = ""

    def __post_init__(self) -> None:
        if not self.health and not self.log:
            raise ValueError("an app's readiness needs a health probe or a ready_log line")
        if self.health not in ("", TCP) and not self.health.startswith("/"):
            raise ValueError(f"health {self.health!r} is neither a path nor {TCP!r}")
        if self.method not in HEALTH_METHODS or not self.statuses:
            raise ValueError(f"health_method {self.method!r} / statuses {self.statuses!r}")
        if self.log:
            re.compile(self.log)

    def describe(self) -> str:
        """How the run's messages name it: "/health", "tcp", "log /listening/"."""
        parts = [f"log /{self.log}/"] if self.log else []
        if self.health == TCP:
            parts.append("its port accepting")
        elif self.health:
            codes = "/".join(str(s) for s in self.statuses)
            parts.append(self.health if self.statuses == (200,) else f"{self.health} ({codes})")
        return " then ".join(parts)


@dataclass(frozen=True)
class AppEntry:
    name: str
    command: tuple[str, ...]
    ready: Readiness = field(default_factory=Readiness)
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = ""  # absolute once parsed (relative paths are the suite file's folder's)
    processes_hint: int = 1  # how many cores the model may assume the app can use

    def argv(self, port: int, python: str = sys.executable) -> list[str]:
        """The command line, {port} and {python} (the Python of the cell's environment, or the
        harness's own) filled in."""
        return [_fill(part, port, python) for part in self.command]

    def environment(self, port: int, python: str = sys.executable) -> dict[str, str]:
        """The harness's environment (PATH, the user's own settings) with the app's on top."""
        return {**os.environ, **{k: _fill(v, port, python) for k, v in self.env.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AppEntry:
        return cls(
            name=str(data["name"]),
            command=tuple(data["command"]),
            ready=_ready_from(data),
            env=dict(data.get("env") or {}),
            cwd=str(data.get("cwd", "")),
            processes_hint=int(data.get("processes_hint", 1)),
        )


def _ready_from(data: dict[str, Any]) -> Readiness:
    """An app as run.json holds it; runs written before readiness had keys of its own had only
    `health` (a path answering 200)."""
    ready = data.get("ready")
    if ready is None:
        return Readiness(health=str(data.get("health", "/")))
    return Readiness(
        health=str(ready["health"]),
        statuses=tuple(int(s) for s in ready["statuses"]),
        method=str(ready["method"]),
        log=str(ready["log"]),
    )


def _fill(text: str, port: int, python: str) -> str:
    # str.replace, not str.format: a command may well contain other braces (JSON, shell).
    return text.replace(PORT, str(port)).replace(PYTHON, python)


def check_path(c: Checker, value: Any, key: str) -> str:
    """An HTTP path to poll or verify: a string starting with '/'."""
    if not isinstance(value, str) or not value.startswith("/") or any(ch.isspace() for ch in value):
        raise c.fail(key, "must be a path starting with '/' and without spaces, e.g. \"/health\"")
    return value


def parse_readiness(c: Checker, raw: dict[str, Any], where: str) -> Readiness:
    """health (a path, "tcp", or absent beside ready_log), health_status, health_method and
    ready_log, each refused by name when wrong."""
    log = raw.get("ready_log", "")
    if not isinstance(log, str):
        raise c.fail(
            f"{where}.ready_log",
            'must be a regex a line of the app\'s log matches, e.g. "Listening on"',
        )
    if log:
        try:
            re.compile(log)
        except re.error as exc:
            raise c.fail(f"{where}.ready_log", f"is not a valid regex: {exc}") from None
    health = raw.get("health", "" if log and "health" not in raw else "/")
    if health != TCP and health != "":
        health = check_path(c, health, f"{where}.health")
    if health == "" and not log:
        raise c.fail(f"{where}.health", f'must be a path, "{TCP}", or left out beside ready_log')
    method = raw.get("health_method", "GET")
    if method not in HEALTH_METHODS:
        raise c.fail(
            f"{where}.health_method", f"{method!r} is not one of: {', '.join(HEALTH_METHODS)}"
        )
    statuses = raw.get("health_status", [200])
    if isinstance(statuses, int) and not isinstance(statuses, bool):
        statuses = [statuses]
    if (
        not isinstance(statuses, list)
        or not statuses
        or not all(
            isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599 for s in statuses
        )
    ):
        raise c.fail(f"{where}.health_status", "must be a list of HTTP statuses, e.g. [200, 405]")
    if health in (TCP, "") and ("health_status" in raw or "health_method" in raw):
        raise c.fail(
            f"{where}.health_status",
            "applies to an HTTP health path only" + (f', not health = "{TCP}"' if health else ""),
        )
    return Readiness(health=health, statuses=tuple(statuses), method=method, log=log)


def _strings(c: Checker, value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise c.fail(key, 'must be a non-empty list of strings, e.g. ["python", "app.py", ...]')
    return tuple(value)


def _env(c: Checker, value: Any, key: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise c.fail(key, 'must be a table of strings, e.g. { APP_MODE = "async" }')
    return dict(value)


def _cwd(c: Checker, value: Any, key: str, base: Path) -> Path:
    if not isinstance(value, str):
        raise c.fail(key, "must be a folder path (relative to the suite file's folder)")
    path = (base / value).resolve()
    if not path.is_dir():
        raise c.fail(key, f"{path} is not a folder")
    return path


def _check_program(c: Checker, program: str, key: str, cwd: Path) -> None:
    """The program must exist now: a typo is refused before the run, not after a failed start."""
    if program == PYTHON:
        return
    if "/" in program:  # a path: relative paths are the app's cwd's (subprocess does so)
        path = cwd / program
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise c.fail(key, f"{program!r} is not an executable file (looked in {cwd})")
    elif shutil.which(program) is None:
        raise c.fail(key, f"program {program!r} is not on PATH; give its path, or {PYTHON}")


def parse_app(c: Checker, raw: Any, where: str, base: Path) -> AppEntry:
    if not isinstance(raw, dict):
        raise c.fail(where, "must be a table")
    c.keys(raw, APP_KEYS, f"{where}.")
    name = raw.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise c.fail(f"{where}.name", "must be 1-40 letters, digits, '-' or '_'")
    if name in RESERVED:
        raise c.fail(f"{where}.name", f"{name!r} is taken; not one of: {', '.join(RESERVED)}")
    if "command" not in raw:
        raise c.fail(f"{where}.command", "is required: the command line that starts the app")
    command = _strings(c, raw["command"], f"{where}.command")
    env = _env(c, raw.get("env", {}), f"{where}.env")
    if not any(PORT in part for part in (*command, *env.values())):
        raise c.fail(
            f"{where}.command",
            f"has no {PORT} placeholder (in command or env): the app must listen on the port "
            "the harness picks",
        )
    cwd = _cwd(c, raw.get("cwd", "."), f"{where}.cwd", base)
    _check_program(c, command[0], f"{where}.command", cwd)
    return AppEntry(
        name=name,
        command=command,
        ready=parse_readiness(c, raw, where),
        env=env,
        cwd=str(cwd),
        processes_hint=c.number(
            raw.get("processes_hint", 1), f"{where}.processes_hint", "processes"
        ),
    )


def parse_apps(c: Checker, raw: Any, base: Path) -> tuple[AppEntry, ...]:
    """The suite's [[apps]] tables, each checked, no name twice."""
    if not isinstance(raw, list) or not raw:
        raise c.fail("apps", "must be one or more [[apps]] tables")
    apps: list[AppEntry] = []
    for i, table in enumerate(raw):
        app = parse_app(c, table, f"apps[{i}]", base)
        if any(a.name == app.name for a in apps):
            raise c.fail(f"apps[{i}].name", f"{app.name!r} is used by another app")
        apps.append(app)
    return tuple(apps)
