"""profile.json: where the server's time went over a cell's measured window, beside the
stacks py-spy sampled (record/stacks.py; README, "Profiles"). Written by the harness
(harness/processes/profiler.py), read by the analysis (analysis/profile/); a cell without the
file (profiling off, a target, an older run) has no profile.

Each process of the profiled tree gets its threads' time split four ways, in threads (a
process of 9 threads has 9 thread-seconds each second):

- gil: holding the GIL (py-spy's --gil samples): running Python, or C code that keeps it;
- gil_wait: running or runnable without the GIL while another thread of the process held it:
  waiting to take it (a thread on a busy core is runnable while it waits; a thread asleep on
  the GIL's condition variable reads as idle, so on many idle cores this is a lower bound);
- running: running or runnable without the GIL while no other thread held it: system calls
  and C code that released it (a send on loopback does the whole TCP path in the kernel);
- idle: the rest: blocked on I/O, a lock, a sleep, the event loop's wait.

Running or runnable comes from the kernel (each thread's schedstat: on CPU and waiting for a
core), exact over the window; holding the GIL from py-spy's samples; `cpu` is the kernel's
CPU time in cores."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from record import io
from record.errors import UserError
from record.layout import CellLayout

# What a profile samples: the server's process tree (every cell), or the Locust side
# (calibrate --profile: the generator's own map).
SERVER, GENERATOR = "server", "generator"
TARGETS = (SERVER, GENERATOR)
# py-spy's rate in samples per second, each view. Its cost is py-spy's own CPU, on the other
# side's cores (the generator's, shared with Locust and a db cell's PostgreSQL): measured on 2
# cores, 4-5 % of a core at 50 Hz for a one-thread server and 11 % for a threadpool of 8 on
# the TechEmpower queries test, where req/s fell by more than 2 % (README, "Profiles"); 25 Hz
# halves that and still gives a 10 s window 250 samples a view. Raise it for finer profiles.
DEFAULT_RATE_HZ = 25
RATE_RANGE = (1, 1000)
# The two views py-spy samples, each its own file: every thread at every tick (idle ones
# included: `--idle`), and the thread holding the GIL (`--gil`).
WALL, GIL = "wall", "gil"
VIEWS = (WALL, GIL)
# A profile's status: measured; the kernel refused py-spy (an ordinary user without ptrace
# permission); or it failed otherwise (py-spy missing, or it exited early): the reason says.
OK, REFUSED, FAILED = "ok", "refused", "failed"
STATUSES = (OK, REFUSED, FAILED)
# calibrate --profile: the profiled cells' folders (their profile files only), beside
# calibration.json.
CALIBRATION_PROFILES = "calibration-profile"


@dataclass(frozen=True)
class ProfileSettings:
    """A suite's [profile] table: on unless `enabled = false` (or `run --no-profile`)."""

    enabled: bool = True
    rate_hz: int = DEFAULT_RATE_HZ
    target: str = SERVER

    def __post_init__(self) -> None:
        lo, hi = RATE_RANGE
        if isinstance(self.rate_hz, bool) or not isinstance(self.rate_hz, int):
            raise ValueError(f"profile rate_hz must be an integer in {lo}..{hi}")
        if not lo <= self.rate_hz <= hi:
            raise ValueError(f"profile rate_hz {self.rate_hz} is out of range; allowed {lo}..{hi}")
        if self.target not in TARGETS:
            raise ValueError(f"profile target must be one of: {', '.join(TARGETS)}")

    @classmethod
    def from_dict(cls, data: Any) -> ProfileSettings:
        """As stored in run.json's suite; a run from before profiles has none: the default."""
        if not isinstance(data, dict):
            return cls()
        return cls(
            enabled=bool(data.get("enabled", True)),
            rate_hz=data.get("rate_hz", DEFAULT_RATE_HZ),
            target=data.get("target", SERVER),
        )


ON = ProfileSettings()
OFF = ProfileSettings(enabled=False)


def _non_negative(value: float) -> bool:
    return math.isnan(value) or value >= 0


@dataclass(frozen=True)
class ProcessTime:
    """One process of the profiled tree over the profile's span (module docstring): its
    samples, and its threads' time split four ways, in threads; cpu in cores."""

    pid: int
    command: str
    parent: int | None  # its parent in the tree (None: the root)
    ticks: int  # times py-spy sampled it (each of its Python threads once a tick)
    samples: int  # wall samples: its threads' ticks together
    gil_samples: int
    threads: float  # Python threads, on average
    gil: float
    gil_wait: float
    running: float
    idle: float
    cpu: float

    def __post_init__(self) -> None:
        if self.ticks < 0 or self.samples < 0 or self.gil_samples < 0:
            raise ValueError("sample counts must not be negative")
        for name in ("threads", "gil", "gil_wait", "running", "idle", "cpu"):
            if not _non_negative(getattr(self, name)):
                raise ValueError(f"{name} must not be negative")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProcessTime:
        def number(name: str) -> float:
            value = data.get(name)
            return math.nan if value is None else float(value)

        parent = data.get("parent")
        return cls(
            pid=int(data["pid"]),
            command=str(data.get("command", "")),
            parent=None if parent is None else int(parent),
            ticks=int(data["ticks"]),
            samples=int(data["samples"]),
            gil_samples=int(data["gil_samples"]),
            threads=number("threads"),
            gil=number("gil"),
            gil_wait=number("gil_wait"),
            running=number("running"),
            idle=number("idle"),
            cpu=number("cpu"),
        )


@dataclass(frozen=True)
class ProfileRecord:
    """profile.json: how the profile was taken, and each process's time."""

    status: str
    target: str
    rate_hz: int
    started: float  # epoch seconds: py-spy started (the window's start)
    ended: float  # epoch seconds: told to stop (the window's end)
    reason: str = ""  # why a profile is not OK
    processes: tuple[ProcessTime, ...] = ()
    # py-spy's own CPU, in seconds over the span (all its processes): what profiling cost.
    profiler_cpu_s: float = math.nan
    # The folders the sampled programs ran from: frames in files under them are shown
    # relative to them (the app's own code; analysis/profile/frames.py).
    roots: tuple[str, ...] = ()
    # The pid a stack line without a process frame was sampled in (a tree sampled without
    # --subprocesses: one process, its root).
    root_pid: int = 0
    # Ticks py-spy could not read, per view: it reads a running interpreter without pausing
    # it, and a stack that changed while it was read is lost (a busy server's often are).
    wall_errors: int = 0
    gil_errors: int = 0

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"profile status must be one of: {', '.join(STATUSES)}")
        if self.target not in TARGETS:
            raise ValueError(f"profile target must be one of: {', '.join(TARGETS)}")
        if self.rate_hz < 1:
            raise ValueError("profile rate_hz must be at least 1")

    @property
    def span_s(self) -> float:
        return self.ended - self.started

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def ticks(self) -> int:
        """Ticks of the root process (the most of any process where the root is not seen)."""
        roots = [p.ticks for p in self.processes if p.parent is None]
        return max(roots or [p.ticks for p in self.processes] or [0])

    @property
    def attempted(self) -> float:
        """Ticks per process, read or lost: what the rate and the span promise."""
        if not self.processes:
            return 0.0
        return (sum(p.ticks for p in self.processes) + self.wall_errors) / len(self.processes)

    @property
    def read_share(self) -> float:
        """The share of the wall view's ticks py-spy could read."""
        read = sum(p.ticks for p in self.processes)
        return read / (read + self.wall_errors) if read + self.wall_errors else math.nan

    def write(self, cell_dir: Path) -> None:
        data = asdict(self)
        data["processes"] = [asdict(p) for p in self.processes]
        io.write_json(CellLayout(cell_dir).profile, data)

    @classmethod
    def read(cls, cell_dir: Path) -> ProfileRecord | None:
        path = CellLayout(cell_dir).profile
        if not path.exists():
            return None
        data = io.read_json(path)
        try:
            return cls(
                status=data["status"],
                target=data["target"],
                rate_hz=int(data["rate_hz"]),
                started=float(data["started"]),
                ended=float(data["ended"]),
                reason=str(data.get("reason", "")),
                processes=tuple(ProcessTime.from_dict(p) for p in data.get("processes", [])),
                profiler_cpu_s=float(data.get("profiler_cpu_s", math.nan)),
                roots=tuple(data.get("roots", ())),
                root_pid=int(data.get("root_pid", 0)),
                wall_errors=int(data.get("wall_errors", 0)),
                gil_errors=int(data.get("gil_errors", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"{path}: {type(exc).__name__}: {exc}") from None


def calibration_profiles(folder: Path) -> Path:
    """Where calibrate --profile keeps its cells' profiles in a results folder."""
    return folder / CALIBRATION_PROFILES
