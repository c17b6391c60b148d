"""Typed views of run.json's dictionaries, for its readers (the report, compare, the live
verdict, load): the suite's settings, the machine's environment and the generator's
calibration. run.json stores them as the harness wrote them (Suite.to_dict(), env.py's
collect_environment(), calibrate.py's figures), so every older run keeps loading; a reader
asks these types instead of chaining `.get()`. Each validates itself when built: a value of
the wrong type in run.json is an error naming the field, never a silently wrong report."""

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
    """The machine and software a run ran on (harness/env.py): what the report shows and what
    `compare` requires to be equal on both sides."""

    cpu_model: str = "?"
    cores: int | None = None
    memory_bytes: int = 0
    platform: str = "?"
    python_version: str = "?"
    packages: dict[str, str] = field(default_factory=dict)
    git_commit: str = ""
    git_dirty: bool = False

    @classmethod
    def from_dict(cls, env: Mapping[str, Any]) -> Environment:
        cpu, git = _section(env, "cpu"), _section(env, "git")
        return cls(
            cpu_model=str(cpu.get("model", "?")),
            cores=_opt_int(cpu.get("cores"), "cpu.cores"),
            memory_bytes=int(_number(_section(env, "memory").get("total_bytes", 0), "memory")),
            platform=str(_section(env, "os").get("platform", "?")),
            python_version=str(_section(env, "python").get("version", "?")),
            packages={str(k): str(v) for k, v in _section(env, "packages").items()},
            git_commit=str(git.get("commit") or ""),
            git_dirty=bool(git.get("dirty")),
        )

    def machine_key(self) -> dict[str, str]:
        """What must match for two runs to be compared: the CPU, the cores, Python and every
        package's version."""
        key = {
            "cpu model": self.cpu_model,
            "cores": str(self.cores),
            "python": self.python_version,
        }
        for name, version in sorted(self.packages.items()):
            key[name] = version
        return key


@dataclass(frozen=True, kw_only=True)
class Calibration:
    """The latest `run_bench.py calibrate` of the machine when the run started
    (harness/calibrate.py). NaN: not measured (no calibration, or no wrk)."""

    measured_at: float = math.nan
    ceiling_rps_per_worker: float = math.nan
    listener_overhead_pct: float = math.nan
    harness_rps: float = math.nan
    wrk_rps: float = math.nan
    harness_wrk_ratio: float = math.nan
    # Since calibrate measures cells in rounds: the ceiling's 95 % interval, the rounds it
    # took, and whether the interval got as narrow as calibrate asks (older files: NaN, True).
    ceiling_ci_low: float = math.nan
    ceiling_ci_high: float = math.nan
    repeats: float = math.nan
    converged: bool = True

    def __post_init__(self) -> None:
        if self.ceiling_rps_per_worker <= 0:
            raise ValueError(f"calibration ceiling {self.ceiling_rps_per_worker} is not positive")

    @property
    def has_ceiling(self) -> bool:
        return math.isfinite(self.ceiling_rps_per_worker)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        names = (
            "measured_at",
            "ceiling_rps_per_worker",
            "listener_overhead_pct",
            "harness_rps",
            "wrk_rps",
            "harness_wrk_ratio",
        )
        ci = data.get("ceiling_ci")
        low, high = (
            (_number(ci[0], "ceiling_ci"), _number(ci[1], "ceiling_ci"))
            if isinstance(ci, list | tuple) and len(ci) == 2
            else (math.nan, math.nan)
        )
        return cls(
            **{name: _number(data.get(name), name) for name in names},
            ceiling_ci_low=low,
            ceiling_ci_high=high,
            repeats=_number(data.get("repeats"), "repeats"),
            converged=bool(data.get("converged", True)),
        )
