"""Typed records of a run: what one cell is (CellSpec), what happened to it (CellRecord, stored
as cell.json) and what the run was (RunRecord, stored as run.json). Each validates itself when
built, so a reader never meets a half-filled dict, and reads the older layouts of the same
schema version (missing optional fields take their defaults).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from catalog.limits import DEFAULT_HTTP_CLIENT, UPLOAD_MODES
from record import io
from record.calibration import Calibration
from record.layout import CellLayout, RunLayout
from record.loadgen_summary import WorkerRecord
from record.run_meta import Environment, EnvironmentInfo, Preflight, Speed, SuiteSettings
from record.schema import ENVIRONMENT_MARK, VARIANT_JOIN, scenario_label
from record.window import Window

# A cell's status as the harness writes it. "invalid" is not among them: validity is a verdict
# of the analysis (analysis/validity.py), computed from the raw data, never stored.
CELL_STATUSES = ("running", "ok", "failed", "interrupted")
# A cell in one of these is finished and is not run again by --resume.
DONE_STATUSES = ("ok", "failed")
# A summary row's status once judged: these measured something (valid or not); the others
# (failed, interrupted) have no figures to show.
MEASURED_STATUSES = ("ok", "invalid")
UNMEASURED_STATUSES = ("failed", "interrupted")
# aborted: a threshold with abort_on_fail failed; the cells done are kept.
RUN_STATUSES = ("running", "complete", "interrupted", "aborted")
# A cell whose requests failed more often than this is invalid, unless the suite says otherwise.
DEFAULT_MAX_ERROR_RATE = 0.01


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class CellSpec:
    """One measurement: a variant (a strategy with its options) on a loop under one scenario at
    one load level."""

    # The strategy (catalog/strategies.py), a user's app by its name, or "target" when the
    # suite loads an already running server.
    strategy: str
    loop: str
    scenario: str
    params: dict[str, int]
    users: int
    repeat: int
    threads: int
    processes: int
    # Open loop: requests offered per second on a schedule, whatever the answers; `users` is
    # then the most requests in flight at once. None: a closed loop of `users` users.
    rate: float | None = None
    # Forking strategies: every process on its own SO_REUSEPORT socket (servers/launch.py).
    reuse_port: bool = False
    # The awaiting strategies' upstream client (catalog/limits.py HTTP_CLIENTS); named in the
    # cell id only when it is not the default, so the ids of older cells are unchanged.
    http_client: str = DEFAULT_HTTP_CLIENT
    # An upload cell's server reads request bodies "buffered" or "streamed" (catalog/limits.py
    # UPLOAD_MODES), named in its id; None for every other cell.
    upload: str | None = None
    # Schema 8: the suite's [[environments]] entry whose interpreter and packages ran the
    # server (named in the id after the loop); "" for the harness's own.
    environment: str = ""

    def __post_init__(self) -> None:
        if self.upload is not None and self.upload not in UPLOAD_MODES:
            raise ValueError(f"cell {self.strategy}: upload must be one of {UPLOAD_MODES}")
        if self.users < 1 or self.repeat < 1 or self.threads < 1 or self.processes < 1:
            raise ValueError(f"cell {self.strategy}/{self.scenario}: counts must be at least 1")
        if self.rate is not None and not self.rate > 0:
            raise ValueError(f"cell {self.strategy}/{self.scenario}: rate must be positive")

    @property
    def open_loop(self) -> bool:
        return self.rate is not None

    @property
    def load(self) -> str:
        """The load level in a cell id: u<users> closed, r<rate> open."""
        return f"r{self.rate:g}" if self.rate is not None else f"u{self.users}"

    @property
    def label(self) -> str:
        return scenario_label(self.scenario, self.params)

    @property
    def options(self) -> tuple[str, ...]:
        """The server options that make this variant of its strategy, in the order the cell id
        names them (the defaults name nothing)."""
        options = ["reuseport"] if self.reuse_port else []
        if self.http_client != DEFAULT_HTTP_CLIENT:
            options.append(self.http_client)
        if self.upload is not None:
            options.append(self.upload)
        return tuple(options)

    @property
    def variant(self) -> str:
        """What was measured, as tables, charts and the cell id name it: the strategy with its
        options and, in a suite of [[environments]], the environment ("multiprocess+reuseport",
        "coroutine@py312"; "coroutine" alone)."""
        where = f"{ENVIRONMENT_MARK}{self.environment}" if self.environment else ""
        return self._bare_variant + where

    @property
    def _bare_variant(self) -> str:
        return VARIANT_JOIN.join([self.strategy, *self.options])

    @property
    def config_id(self) -> str:
        """The cell's configuration: everything but the repeat."""
        return f"{self.variant}-{self.loop}-{self.label}-{self.load}"

    @property
    def across_environments(self) -> str:
        """The configuration without its environment: what two environments' cells share."""
        return f"{self._bare_variant}-{self.loop}-{self.label}-{self.load}"

    @property
    def cell_id(self) -> str:
        return f"{self.config_id}-r{self.repeat}"

    def to_dict(self) -> dict[str, Any]:
        return {"cell_id": self.cell_id, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellSpec:
        return cls(
            # Before schema 8 the strategy was stored as "variant".
            strategy=str(data["strategy"] if "strategy" in data else data["variant"]),
            loop=str(data["loop"]),
            scenario=str(data["scenario"]),
            params={str(k): int(v) for k, v in dict(data["params"]).items()},
            users=int(data["users"]),
            repeat=int(data["repeat"]),
            threads=int(data["threads"]),
            processes=int(data["processes"]),
            rate=None if data.get("rate") is None else float(data["rate"]),
            reuse_port=bool(data.get("reuse_port", False)),
            # Older cell.json has no http_client: those servers used the default.
            http_client=str(data.get("http_client") or DEFAULT_HTTP_CLIENT),
            upload=None if data.get("upload") is None else str(data["upload"]),
            environment=str(data.get("environment") or ""),
        )


@dataclass(frozen=True)
class Placement:
    """CPU cores for the server under test and for the load generator (and the backend)."""

    mode: str
    server_cpus: tuple[int, ...]
    loadgen_cpus: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "server_cpus": list(self.server_cpus),
            "loadgen_cpus": list(self.loadgen_cpus),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Placement | None:
        if not data:
            return None
        return cls(
            str(data.get("mode", "?")),
            tuple(data.get("server_cpus", ())),
            tuple(data.get("loadgen_cpus", ())),
        )


@dataclass(frozen=True)
class CellSettings:
    """The suite settings a reader of one cell needs without the run."""

    duration_s: float
    warmup_s: float
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE
    # The records that are the cell's figures (req/s, latency, ranking, CPU per request): each
    # entry an endpoint's name, or "TYPE name" (its request type and name, e.g. "WS deliver");
    # () for every record. A user's file that mixes posts, long-poll waits and deliveries
    # names the one its question is about; the others stay in endpoints.csv.
    headline: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class CellRecord:
    """cell.json: a cell's parameters, outcome, window and resource figures."""

    cell: CellSpec
    status: str
    reason: str = ""
    settings: CellSettings
    placement: Placement | None = None
    cores: int = 1
    workers: int = 1
    pids: dict[str, int] = field(default_factory=dict)
    verification: tuple[str, ...] = ()
    window: Window | None = None
    server_cpu_pct: float = math.nan
    backend_cpu_pct: float = math.nan
    loadgen_cpu_pct: float = math.nan  # the busiest Locust process
    loadgen_cpu_total_pct: float = math.nan  # every Locust process together
    loadgen_core_pct: float = math.nan  # how busy the generator's cores were (harness/outcome.py)
    server_shares: dict[str, float] = field(default_factory=dict)  # pid → share of server CPU
    # What the harness saw go wrong in a cell that completed (a worker lost, a server process
    # that died): each one makes the cell invalid (analysis/validity.py).
    problems: tuple[str, ...] = ()
    locust_exit_code: int | None = None
    leftover_pids: tuple[int, ...] = ()
    started: float = math.nan
    load_started: float = math.nan
    load_ended: float = math.nan  # when Locust exited
    ended: float = math.nan
    # A user's own app: its command line as started (port filled in); a user's own Locust
    # file: its path. Empty for built-in variants and scenarios, and in older records.
    command: tuple[str, ...] = ()
    locustfile: str = ""
    # Schema 4. What is worth saying about a cell without making it invalid (a count
    # mismatch within 0.1 %).
    notes: tuple[str, ...] = ()
    # Rows stored (requests + outside) and Locust's own request count for the whole cell: a
    # mismatch above 0.1 % is a problem (harness/cell.py). None where not counted.
    records: int | None = None
    locust_requests: int | None = None
    # One per Locust process that generated load (record/loadgen_summary.py).
    loadgen_workers: tuple[WorkerRecord, ...] = ()
    # Seconds the machine-speed loop (harness/env.py: measure_speed) took on the server's
    # cores just before the cell and just after it, so that `compare` corrects a CPU-bound
    # cell by the machine's speed at that cell, not at the run's ends. Not measured in older
    # records and for open-loop and waiting cells.
    speed: Speed = field(default_factory=Speed)
    # Schema 6. The server's RSS, all its processes together, before the load (idle) and at
    # its highest sample in the window (peak); NaN in older records.
    server_rss_idle_bytes: float = math.nan
    server_rss_peak_bytes: float = math.nan
    # Schema 8. Other processes' use of the cell's cores during the window, % of the server's
    # cores and of the generator's (harness/outcome.py foreign_cpu); NaN in older records.
    foreign_cpu_server_pct: float = math.nan
    foreign_cpu_generator_pct: float = math.nan

    def __post_init__(self) -> None:
        if self.status not in CELL_STATUSES:
            raise ValueError(f"cell status {self.status!r} is not one of {CELL_STATUSES}")
        if self.status == "ok" and self.window is None:
            raise ValueError(f"cell {self.cell.cell_id} is ok but has no measured window")
        if self.cores < 1 or self.workers < 1:
            raise ValueError("cores and workers must be at least 1")
        if not all(isinstance(w, WorkerRecord) for w in self.loadgen_workers):
            raise TypeError("loadgen_workers must be WorkerRecord values (WorkerRecord.from_dict)")

    @property
    def cell_id(self) -> str:
        return self.cell.cell_id

    @property
    def wall_s(self) -> float:
        return self.ended - self.started

    @property
    def done(self) -> bool:
        return self.status in DONE_STATUSES

    def to_dict(self) -> dict[str, Any]:
        return {
            "cell": self.cell.to_dict(),
            "status": self.status,
            "reason": self.reason,
            "placement": self.placement.to_dict() if self.placement else None,
            "cores": self.cores,
            "workers": self.workers,
            "pids": dict(self.pids),
            "verification": list(self.verification),
            "timings": {
                "started": self.started,
                "load_started": self.load_started,
                "load_ended": self.load_ended,
                "ended": self.ended,
                "wall_s": self.wall_s,
            },
            "settings": asdict(self.settings),
            "window": self.window.to_dict() if self.window else None,
            "server_cpu_pct": self.server_cpu_pct,
            "backend_cpu_pct": self.backend_cpu_pct,
            "loadgen_cpu_pct": self.loadgen_cpu_pct,
            "loadgen_cpu_total_pct": self.loadgen_cpu_total_pct,
            "loadgen_core_pct": self.loadgen_core_pct,
            "server_shares": dict(self.server_shares),
            "problems": list(self.problems),
            "locust_exit_code": self.locust_exit_code,
            "leftover_pids": list(self.leftover_pids),
            "command": list(self.command),
            "locustfile": self.locustfile,
            "notes": list(self.notes),
            "records": self.records,
            "locust_requests": self.locust_requests,
            "loadgen_workers": [w.to_dict() for w in self.loadgen_workers],
            "speed": self.speed.to_dict(),
            "server_rss_idle_bytes": self.server_rss_idle_bytes,
            "server_rss_peak_bytes": self.server_rss_peak_bytes,
            "foreign_cpu_server_pct": self.foreign_cpu_server_pct,
            "foreign_cpu_generator_pct": self.foreign_cpu_generator_pct,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellRecord:
        timings = data.get("timings") or {}
        # Before schema 8 the settings were stored as "suite".
        suite = data.get("settings") or data.get("suite") or {}
        window = data.get("window")
        started = _float(timings.get("started"))
        ended = _float(timings.get("ended"))
        if math.isnan(ended) and timings.get("wall_s") is not None:
            started = 0.0 if math.isnan(started) else started
            ended = started + float(timings["wall_s"])
        return cls(
            cell=CellSpec.from_dict(data["cell"]),
            status=str(data["status"]),
            reason=str(data.get("reason") or ""),
            settings=CellSettings(
                duration_s=_float(suite.get("duration_s")),
                warmup_s=_float(suite.get("warmup_s", 0.0)),
                max_error_rate=float(suite.get("max_error_rate", DEFAULT_MAX_ERROR_RATE)),
                headline=tuple(str(h) for h in suite.get("headline") or ()),
            ),
            placement=Placement.from_dict(data.get("placement")),
            cores=int(data.get("cores", 1)),
            workers=int(data.get("workers", 1)),
            pids={str(k): int(v) for k, v in (data.get("pids") or {}).items()},
            verification=tuple(data.get("verification") or ()),
            window=Window(float(window["start"]), float(window["end"])) if window else None,
            server_cpu_pct=_float(data.get("server_cpu_pct")),
            backend_cpu_pct=_float(data.get("backend_cpu_pct")),
            loadgen_cpu_pct=_float(data.get("loadgen_cpu_pct")),
            # Older records measured the busiest process only.
            loadgen_cpu_total_pct=_float(
                data.get("loadgen_cpu_total_pct", data.get("loadgen_cpu_pct"))
            ),
            loadgen_core_pct=_float(data.get("loadgen_core_pct", data.get("loadgen_cpu_pct"))),
            server_shares={str(k): float(v) for k, v in (data.get("server_shares") or {}).items()},
            problems=tuple(data.get("problems") or ()),
            locust_exit_code=data.get("locust_exit_code"),
            leftover_pids=tuple(data.get("leftover_pids") or ()),
            started=started,
            load_started=_float(timings.get("load_started")),
            load_ended=_float(timings.get("load_ended")),
            ended=ended,
            command=tuple(str(a) for a in data.get("command") or ()),
            locustfile=str(data.get("locustfile") or ""),
            notes=tuple(str(n) for n in data.get("notes") or ()),
            records=_int_or_none(data.get("records")),
            locust_requests=_int_or_none(data.get("locust_requests")),
            loadgen_workers=tuple(
                WorkerRecord.from_dict(w) for w in data.get("loadgen_workers") or ()
            ),
            speed=Speed.from_dict(data.get("speed")),
            server_rss_idle_bytes=_float(data.get("server_rss_idle_bytes")),
            server_rss_peak_bytes=_float(data.get("server_rss_peak_bytes")),
            foreign_cpu_server_pct=_float(data.get("foreign_cpu_server_pct")),
            foreign_cpu_generator_pct=_float(data.get("foreign_cpu_generator_pct")),
        )

    def write(self, cell_dir: Path) -> None:
        io.write_json(CellLayout(cell_dir).cell_json, self.to_dict())

    @classmethod
    def read(cls, cell_dir: Path) -> CellRecord:
        path = CellLayout(cell_dir).cell_json
        data = io.read_json(path)
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise io.UserError(f"{path}: not a valid cell record ({exc})") from None


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """How a run was asked to run beyond its suite: Locust workers, CPU placement, where the
    load came from. The workers' token is a secret and is never stored."""

    workers: int = 1  # local Locust workers (1: a single process, no master)
    placement: Placement | None = None
    remote_workers: int = 0
    master_bind: str = ""
    master_port: int = 0
    worker_timeout_s: float = math.nan
    server_host: str = ""  # where the servers under test listened and were loaded

    def to_dict(self) -> dict[str, Any]:
        return {
            "workers": self.workers,
            "placement": self.placement.to_dict() if self.placement else None,
            "distribution": {
                "local_workers": self.workers,
                "remote_workers": self.remote_workers,
                "master_bind": self.master_bind,
                "master_port": self.master_port,
                "worker_timeout_s": self.worker_timeout_s,
                "server_host": self.server_host,
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RunOptions:
        data = data or {}
        dist = data.get("distribution") or {}
        return cls(
            workers=int(data.get("workers", 1)),
            placement=Placement.from_dict(data.get("placement")),
            remote_workers=int(dist.get("remote_workers", 0)),
            master_bind=str(dist.get("master_bind") or ""),
            master_port=int(dist.get("master_port") or 0),
            worker_timeout_s=_float(dist.get("worker_timeout_s")),
            server_host=str(dist.get("server_host") or ""),
        )


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """run.json: the suite as run, the environment, the planned cells and the run's status."""

    run_id: str
    # The harness's Suite.to_dict(), kept whole: --resume rebuilds the suite from it
    # (harness/runner.py). Readers of the settings use `settings`, parsed once from it.
    suite: dict[str, Any]
    environment: Environment = field(default_factory=Environment)
    cells: tuple[str, ...] = ()
    options: RunOptions = field(default_factory=RunOptions)
    status: str = "running"
    started: float = math.nan
    ended: float = math.nan
    resumed: tuple[float, ...] = ()
    # How fast this machine was at the run's start and end (run_meta.Speed), so that
    # `compare` can tell a change of the code from a change of the machine.
    speed: Speed = field(default_factory=Speed)
    # Adaptive repeats: configurations whose req/s interval was still wider than the target
    # after max_repeats (harness/repeats.py).
    unmet_targets: tuple[str, ...] = ()
    # Schema 4: the latest `run_bench.py calibrate` of this machine when the run started
    # (record/calibration.py); no ceiling when there was none.
    calibration: Calibration = field(default_factory=Calibration)
    # Schema 8: the machine just before the first cell (harness/preflight.py), and the
    # suite's [[environments]] as they ran (none: the harness's own interpreter).
    preflight: Preflight = field(default_factory=Preflight)
    environments: tuple[EnvironmentInfo, ...] = ()
    settings: SuiteSettings = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if self.status not in RUN_STATUSES:
            raise ValueError(f"run status {self.status!r} is not one of {RUN_STATUSES}")
        object.__setattr__(self, "settings", SuiteSettings.from_dict(self.suite))

    @property
    def placement(self) -> Placement | None:
        return self.options.placement

    def suite_environment(self, name: str) -> EnvironmentInfo | None:
        """A [[environments]] entry as it ran, by name ("": the harness's own: None)."""
        return next((e for e in self.environments if e.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "suite": self.suite,
            "environment": self.environment.to_dict(),
            "cells": list(self.cells),
            "options": self.options.to_dict(),
            "status": self.status,
            "started": self.started,
            "ended": self.ended,
            "resumed": list(self.resumed),
            "speed": self.speed.to_dict(),
            "unmet_targets": list(self.unmet_targets),
            "calibration": self.calibration.to_dict() if self.calibration.has_ceiling else {},
            "preflight": self.preflight.to_dict(),
            "environments": [e.to_dict() for e in self.environments],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], default_id: str = "") -> RunRecord:
        return cls(
            run_id=str(data.get("run_id") or default_id),
            suite=dict(data.get("suite") or {}),
            environment=Environment.from_dict(data.get("environment") or {}),
            cells=tuple(data.get("cells") or ()),
            options=RunOptions.from_dict(data.get("options")),
            status=str(data.get("status", "complete")),
            started=_float(data.get("started")),
            ended=_float(data.get("ended")),
            resumed=tuple(data.get("resumed") or ()),
            speed=Speed.from_dict(data.get("speed")),
            unmet_targets=tuple(data.get("unmet_targets") or ()),
            calibration=Calibration.from_dict(data.get("calibration") or {}),
            preflight=Preflight.from_dict(data.get("preflight")),
            environments=tuple(
                EnvironmentInfo.from_dict(e) for e in data.get("environments") or ()
            ),
        )

    def write(self, run_dir: Path) -> None:
        io.write_json(RunLayout(run_dir).run_json, self.to_dict())

    @classmethod
    def read(cls, run_dir: Path) -> RunRecord:
        path = RunLayout(run_dir).run_json
        if not path.exists():
            raise io.UserError(f"{run_dir}: not a results folder (no run.json)")
        data = io.read_json(path)
        try:
            return cls.from_dict(data, default_id=run_dir.name)
        except (KeyError, TypeError, ValueError) as exc:
            raise io.UserError(f"{path}: not a valid run record ({exc})") from None
