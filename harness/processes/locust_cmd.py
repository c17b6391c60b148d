"""The Locust command lines of one cell: the scenario file (a built-in one, or the user's own,
unchanged) plus the recorder plugin, headless, the users at once, the harness's window options,
and the scenario's parameters as `--name value` (a user's file declares its own).

One local Locust process by default; with several workers, Locust's own master/worker mode
(loadgen/master.py, loadgen/worker.py): a master that binds `Distribution.master_bind` only,
its local workers, and any remote ones (run_bench.py worker) joining on the run's fixed port.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from catalog.limits import DEFAULT_ARRIVALS
from catalog.paths import PROJECT_ROOT, SCENARIO_DIR
from harness.processes.procs import python_argv
from harness.timing import TAIL_S, planned_load_s
from record.layout import CellLayout
from record.schema import GO_WAIT_S

PLUGIN = PROJECT_ROOT / "loadgen" / "locust_plugin.py"
# The plugin stops Locust on time; --run-time (whole seconds) only backs it up.
BACKSTOP_S = 5
# Scenario parameters that shape the load (Locust's users and spawn rate), not the requests.
LOAD_SHAPE = ("connections", "spawn_rate")


@dataclass(frozen=True)
class Distribution:
    """Where a run's load comes from. Without remote workers and with one local worker the
    cell runs a single local Locust process (no master)."""

    local_workers: int = 1
    remote_workers: int = 0
    master_bind: str = "127.0.0.1"
    master_port: int = 0  # fixed for the whole run, so remote workers serve every cell
    worker_timeout_s: float = 60.0
    token: str = ""
    server_host: str = "127.0.0.1"  # where the servers under test listen and are loaded

    @property
    def distributed(self) -> bool:
        return self.local_workers > 1 or self.remote_workers > 0

    @property
    def expected(self) -> int:
        return self.local_workers + self.remote_workers


@dataclass(frozen=True, kw_only=True)
class LoadSpec:
    """What one cell's load generator is told: the server, the closed loop's users (with a
    `rate`, the open loop's bound on requests in flight: each user holds at most one), the
    scenario's parameters, and the warm-up and measured seconds. Built by the cell and by
    calibrate; checked here, so a bad value never reaches a command line."""

    base_url: str
    users: int
    params: Mapping[str, int] = field(default_factory=dict)
    warmup_s: float = 0.0
    duration_s: float
    rate: float | None = None
    arrivals: str = DEFAULT_ARRIVALS

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url {self.base_url!r} is not an http(s) URL")
        if self.users < 1 or self.warmup_s < 0 or self.duration_s <= 0:
            raise ValueError(
                f"users {self.users}, warmup_s {self.warmup_s}, duration_s {self.duration_s}: "
                "need users >= 1, warmup_s >= 0, duration_s > 0"
            )
        if self.rate is not None and not self.rate > 0:
            raise ValueError(f"rate {self.rate} must be above 0")


def _common(scenario_file: Path | str, loglevel: str = "WARNING") -> list[str]:
    return ["-m", "locust", "-f", f"{scenario_file},{PLUGIN}", "--loglevel", loglevel]


def locust_argv(
    *,
    scenario_file: Path,
    cell_dir: Path,
    load: LoadSpec,
    distribution: Distribution | None = None,
    gated: bool = False,
    cpus: Collection[int] = (),
) -> list[str]:
    """The single local process, or the master, running `load`; `gated`: the load waits for
    the harness's go file in `cell_dir` (loadgen/go.py), so Locust may start before the
    servers are verified; `cpus`: the cores it moves onto once imported (_placed)."""
    users, params, rate = load.users, load.params, load.rate
    warmup_s, duration_s = load.warmup_s, load.duration_s
    backstop = math.ceil(planned_load_s(warmup_s, duration_s)) + BACKSTOP_S
    if gated:  # a master's --run-time starts counting before the go
        backstop += math.ceil(GO_WAIT_S)
    dist = distribution or Distribution()
    args = [
        *_common(scenario_file, "INFO" if dist.distributed else "WARNING"),
        "--headless",
        "--users",
        str(users),
        # Every user starts at once: the warm-up, not a ramp, separates start-up from the window
        # (a long-lived scenario's connections open at its own spawn_rate).
        "--spawn-rate",
        str(params.get("spawn_rate", max(users * 10, 1))),
        "--run-time",
        f"{backstop}s",
        "--host",
        load.base_url,
        "--csv",
        str(cell_dir / "locust"),
        "--only-summary",
        "--stop-timeout",
        "0",
        "--exit-code-on-error",
        "0",
        "--bench-out",
        str(cell_dir),
        "--bench-warmup",
        str(warmup_s),
        "--bench-duration",
        str(duration_s),
        "--bench-tail",
        str(TAIL_S),
    ]
    for key, value in params.items():
        if key not in LOAD_SHAPE:
            args += [f"--{key}", str(value)]
    if rate is not None:
        args += ["--bench-rate", f"{rate:g}", "--bench-arrivals", load.arrivals]
    if gated:
        args += ["--bench-go-file", str(CellLayout(cell_dir).go)]
    if dist.distributed:
        args += _master_args(dist, Path(scenario_file))
    return python_argv(*args, *_placed(cpus))


def _placed(cpus: Collection[int]) -> list[str]:
    """Where a local Locust process runs its load (loadgen/cpu.py place_self). It starts on
    every core and moves once imported: a master's and its workers' imports do not queue on
    the generator's core ahead of the load."""
    return ["--bench-cpus", ",".join(map(str, sorted(cpus)))] if cpus else []


def _master_args(dist: Distribution, scenario_file: Path) -> list[str]:
    """A master bound where the run says, waiting (bounded) for every worker, and naming the
    built-in scenario file its workers must have alike (loadgen/identity.py)."""
    builtin = scenario_file.parent == SCENARIO_DIR
    return [
        "--master",
        "--master-bind-host",
        dist.master_bind,
        "--master-bind-port",
        str(dist.master_port),
        "--expect-workers",
        str(dist.expected),
        "--expect-workers-max-wait",
        f"{dist.worker_timeout_s:g}",
        "--bench-scenario-files",
        scenario_file.name if builtin else "",
    ]


def worker_argv(
    scenario_files: Path | str, master_host: str, master_port: int, cpus: Collection[int] = ()
) -> list[str]:
    """A Locust worker: a local one gets the cell's own file (and the generator's `cpus`); a
    remote one (run_bench.py worker) every built-in scenario of its checkout, since it serves
    every cell of a run and the master names the user class each cell runs."""
    args = _common(scenario_files)
    args += ["--worker", "--master-host", master_host, "--master-port", str(master_port)]
    return python_argv(*args, *_placed(cpus))
