"""The sections of run.json, typed: the suite's settings (as its readers need them), the
machine's environment, and the machine-speed readings. Each validates itself when built: a
value of the wrong type in run.json is an error naming the field, never a silently wrong
report; and each reads every older run's layout."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def _section(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{key} is {type(value).__name__}, not a table")
    return value


def _number(value: Any, name: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} is {value!r}, not a number")
    return float(value)


def _opt_int(value: Any, name: str) -> int | None:
    number = _number(value, name)
    return None if math.isnan(number) else int(number)


@dataclass(frozen=True, kw_only=True)
class SuiteSettings:
    """The suite-wide settings a report prints and judges by (the cell matrix itself is the
    cells' own records). None / NaN: not set, or a run older than the setting."""

    name: str = ""
    description: str = ""
    duration_s: float = math.nan
    warmup_s: float = 0.0
    repeats: int | None = None
    max_error_rate: float = math.nan
    threads: int | None = None
    processes: int | None = None
    slo_ms: float | None = None
    target_ci_pct: float | None = None
    max_repeats: int | None = None

    @classmethod
    def from_dict(cls, suite: Mapping[str, Any]) -> SuiteSettings:
        slo, target = suite.get("slo_ms"), suite.get("target_ci_pct")
        return cls(
            name=str(suite.get("name") or ""),
            description=str(suite.get("description") or ""),
            duration_s=_number(suite.get("duration_s"), "duration_s"),
            warmup_s=_number(suite.get("warmup_s", 0.0), "warmup_s"),
            repeats=_opt_int(suite.get("repeats"), "repeats"),
            max_error_rate=_number(suite.get("max_error_rate"), "max_error_rate"),
            threads=_opt_int(suite.get("threads"), "threads"),
            processes=_opt_int(suite.get("processes"), "processes"),
            slo_ms=None if slo is None else _number(slo, "slo_ms"),
            target_ci_pct=None if target is None else _number(target, "target_ci_pct"),
            max_repeats=_opt_int(suite.get("max_repeats"), "max_repeats"),
        )


@dataclass(frozen=True, kw_only=True)
class Environment:
    """The machine and software a run ran on (harness/env.py collects it): what the report
    shows, what `compare` requires to be equal on both sides, and what `history` calls the
    same machine. Stored in run.json as nested tables (cpu, memory, os, python, packages, git),
    the layout every older run has."""

    cpu_model: str = "?"
    cores: int | None = None
    usable_cores: int | None = None  # the cores this process may run on (its affinity)
    arch: str = ""  # platform.machine(): x86_64, aarch64
    memory_bytes: int = 0
    platform: str = "?"
    hostname: str = ""
    python_version: str = "?"
    python_implementation: str = ""
    packages: dict[str, str] = field(default_factory=dict)
    git_commit: str = ""
    git_dirty: bool | None = None  # None: not known (no git)

    @classmethod
    def from_dict(cls, env: Mapping[str, Any]) -> Environment:
        cpu, git, os_, py = (_section(env, k) for k in ("cpu", "git", "os", "python"))
        dirty = git.get("dirty")
        return cls(
            cpu_model=str(cpu.get("model", "?")),
            cores=_opt_int(cpu.get("cores"), "cpu.cores"),
            usable_cores=_opt_int(cpu.get("usable_cores"), "cpu.usable_cores"),
            arch=str(cpu.get("machine") or ""),
            memory_bytes=int(_number(_section(env, "memory").get("total_bytes", 0), "memory")),
            platform=str(os_.get("platform", "?")),
            hostname=str(os_.get("hostname") or ""),
            python_version=str(py.get("version", "?")),
            python_implementation=str(py.get("implementation") or ""),
            packages={str(k): str(v) for k, v in _section(env, "packages").items()},
            git_commit=str(git.get("commit") or ""),
            git_dirty=None if dirty is None else bool(dirty),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "cpu": {
                "model": self.cpu_model,
                "cores": self.cores,
                "usable_cores": self.usable_cores,
                "machine": self.arch,
            },
            "memory": {"total_bytes": self.memory_bytes},
            "os": {"platform": self.platform, "hostname": self.hostname},
            "python": {
                "version": self.python_version,
                "implementation": self.python_implementation,
            },
            "packages": dict(self.packages),
            "git": {"commit": self.git_commit, "dirty": self.git_dirty},
        }

    def hardware_key(self) -> dict[str, str]:
        """What must match for two runs to be compared at all: the CPU and the cores."""
        return {"cpu model": self.cpu_model, "cores": str(self.cores)}

    def versions(self) -> dict[str, str]:
        """What two comparable runs may differ in, said when they do: Python and every
        package's version."""
        return {"python": self.python_version, **dict(sorted(self.packages.items()))}

    def machine_key(self) -> dict[str, str]:
        """Both: the machine and what it ran."""
        return {**self.hardware_key(), **self.versions()}

    def fingerprint(self) -> str:
        """What makes two runs the same machine for `history`: its hardware (the rule of
        Conbench: only runs on the same hardware are compared). Not the hostname: CI runners
        get a new one per job on the same hardware. Not package versions: an upgrade is a
        change to find. Readable: "Intel Xeon ... / 2 cores / 2 usable cores / x86_64 / 7.8 GB"."""
        parts = [self.cpu_model] if self.cpu_model != "?" else []
        if self.cores is not None:
            parts.append(f"{self.cores} cores")
        if self.usable_cores is not None:
            parts.append(f"{self.usable_cores} usable cores")
        if self.arch:
            parts.append(self.arch)
        if self.memory_bytes:
            parts.append(f"{self.memory_bytes / 2**30:.1f} GB")
        return " / ".join(parts) or "unknown machine"


@dataclass(frozen=True)
class Speed:
    """Seconds a fixed pure-Python loop took (harness/env.py measure_speed) before and after:
    a run's at its start and its end, a cell's on the server's cores just before it and just
    after it. `compare` tells a change of the code from a change of the machine by them. NaN:
    not measured (older runs; open-loop and waiting cells)."""

    before_s: float = math.nan
    after_s: float = math.nan

    @property
    def readings(self) -> tuple[float, ...]:
        """The readings taken (positive, finite), in order."""
        return tuple(v for v in (self.before_s, self.after_s) if math.isfinite(v) and v > 0)

    def to_dict(self) -> dict[str, float]:
        return {k: v for k, v in (("before_s", self.before_s), ("after_s", self.after_s))
                if math.isfinite(v)}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Speed:
        """A cell's {before_s, after_s}, or a run's: {start_s, end_s} before schema 8."""
        data = data or {}
        before = data.get("before_s", data.get("start_s"))
        after = data.get("after_s", data.get("end_s"))
        return cls(_number(before, "speed.before_s"), _number(after, "speed.after_s"))


@dataclass(frozen=True, kw_only=True)
class Preflight:
    """What the machine looked like just before the first cell (harness/preflight.py): other
    processes' CPU (the most any of the cell's cores was busy with them over a second, %),
    the load average, the frequency governors and turbo boost where /sys shows them, and the
    cores the server and the generator were given. NaN: not looked (an older run)."""

    at: float = math.nan
    others_pct: float = math.nan
    load_average: float = math.nan
    cores: int = 0
    governors: tuple[str, ...] = ()
    boost: bool | None = None
    server_cpus: tuple[int, ...] = ()
    loadgen_cpus: tuple[int, ...] = ()

    def describe(self) -> str:
        """What the look saw, in one line ("" for an older run that took none)."""
        if math.isnan(self.others_pct):
            return ""
        parts = [
            f"other processes used up to {self.others_pct:.0f}% of a cell core",
            f"load average {self.load_average:.1f} on {self.cores} cores",
        ]
        if self.governors:
            parts.append(f"governor {'/'.join(self.governors)}")
        if self.boost is not None:
            parts.append(f"turbo {'on' if self.boost else 'off'}")
        server = ",".join(map(str, self.server_cpus)) or "?"
        generator = ",".join(map(str, self.loadgen_cpus)) or "?"
        parts.append(f"server on cores {server}, generator on {generator}")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "others_pct": self.others_pct,
            "load_average": self.load_average,
            "cores": self.cores,
            "governors": list(self.governors),
            "boost": self.boost,
            "server_cpus": list(self.server_cpus),
            "loadgen_cpus": list(self.loadgen_cpus),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Preflight:
        data = data or {}
        boost = data.get("boost")
        return cls(
            at=_number(data.get("at"), "preflight.at"),
            others_pct=_number(data.get("others_pct"), "preflight.others_pct"),
            load_average=_number(data.get("load_average"), "preflight.load_average"),
            cores=int(_number(data.get("cores", 0), "preflight.cores")),
            governors=tuple(str(g) for g in data.get("governors") or ()),
            boost=None if boost is None else bool(boost),
            server_cpus=tuple(int(c) for c in data.get("server_cpus") or ()),
            loadgen_cpus=tuple(int(c) for c in data.get("loadgen_cpus") or ()),
        )


@dataclass(frozen=True, kw_only=True)
class EnvironmentInfo:
    """One [[environments]] entry as it ran (harness/environments.py): its interpreter and
    what it had, read from inside it."""

    name: str
    python: str  # the environment's own interpreter (in its venv)
    python_version: str
    implementation: str = "cpython"
    free_threaded: bool = False  # a build without the GIL (Py_GIL_DISABLED)
    gil_enabled: bool = True  # whether the GIL was on when asked (PYTHON_GIL=0 turns it off)
    packages: dict[str, str] = field(default_factory=dict)  # name → version, as installed
    key: str = ""  # its cache folder's key (harness/environments.py key_of)
    pins: tuple[str, ...] = ()  # the suite's pins for it

    def describe(self) -> str:
        """ "Python 3.12.1, tornado 6.5.2, uvloop 0.23.0" (free-threaded said when it is)."""
        build = " free-threaded" if self.free_threaded else ""
        gil = ", GIL off" if self.free_threaded and not self.gil_enabled else ""
        parts = [f"Python {self.python_version}{build}{gil}"]
        parts += [f"{n} {self.packages[n]}" for n in ("tornado", "uvloop") if n in self.packages]
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "python": self.python,
            "python_version": self.python_version,
            "implementation": self.implementation,
            "free_threaded": self.free_threaded,
            "gil_enabled": self.gil_enabled,
            "packages": dict(self.packages),
            "key": self.key,
            "pins": list(self.pins),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EnvironmentInfo:
        return cls(
            name=str(data["name"]),
            python=str(data.get("python") or ""),
            python_version=str(data.get("python_version") or "?"),
            implementation=str(data.get("implementation") or "cpython"),
            free_threaded=bool(data.get("free_threaded", False)),
            gil_enabled=bool(data.get("gil_enabled", True)),
            packages={str(k): str(v) for k, v in _section(data, "packages").items()},
            key=str(data.get("key") or ""),
            pins=tuple(str(p) for p in data.get("pins") or ()),
        )
