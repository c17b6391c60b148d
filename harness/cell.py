"""One cell from start to teardown: ports, backend, server, readiness, verification, Locust,
resource sampling, raw records, cell.json. Every process started here is stopped here."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness import io, procs
from harness.sampler import SAMPLE_COLUMNS, Sampler
from harness.scenarios import SCENARIOS
from harness.suite import Cell, Suite
from harness.verify import verify

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Locust keeps running this long after the measured window closes, so every request that
# completes inside the window is recorded before Locust stops its users.
TAIL_S = 1.0
# A cell that runs this much longer than planned is stopped and recorded as failed.
WATCHDOG_SLACK_S = 60.0
PORT_ATTEMPTS = 3
POLL_S = 0.2
# Cost of a cell beyond its planned load time (server and Locust start-up, verification,
# teardown), measured on a 2-core machine; used only for estimates.
CELL_OVERHEAD_S = 3.0
FORK_OVERHEAD_S = 3.0


class CellFailed(Exception):
    """The cell could not produce a measurement; the message is the reason."""


@dataclass(frozen=True)
class Placement:
    """CPU cores for the server under test and for the load generator. The backend shares the
    load generator's cores: both are the environment, and the server's cores stay its own."""

    mode: str
    server_cpus: tuple[int, ...]
    loadgen_cpus: tuple[int, ...]

    @classmethod
    def choose(cls, mode: str) -> Placement:
        cpus = tuple(sorted(os.sched_getaffinity(0)))
        if mode == "split" and len(cpus) >= 2:
            # The load generator gets one core, the subjects the rest.
            return cls("split", cpus[:-1], cpus[-1:])
        return cls("shared", cpus, cpus)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "server_cpus": list(self.server_cpus),
            "loadgen_cpus": list(self.loadgen_cpus),
        }


@dataclass
class CellOptions:
    suite: Suite
    placement: Placement
    workers: int = 1  # Locust processes


def planned_load_s(suite: Suite) -> float:
    return suite.warmup_s + suite.duration_s + TAIL_S


def estimate_cell_s(suite: Suite, cell: Cell) -> float:
    extra = FORK_OVERHEAD_S if cell.variant == "multiprocess" else 0.0
    return planned_load_s(suite) + CELL_OVERHEAD_S + extra


@dataclass
class CellRun:
    cell: Cell
    cell_dir: Path
    options: CellOptions
    children: list[procs.Child] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    server: procs.Child | None = None  # the subject, watched during load (None for a target)

    # -- process helpers -------------------------------------------------------------
    def _start_http(
        self, name: str, argv_for_port: Callable[[int], list[str]], cpus: tuple[int, ...]
    ) -> tuple[procs.Child, str]:
        """Start a server on a free port (retrying if the port was taken meanwhile)."""
        last = ""
        for _ in range(PORT_ATTEMPTS):
            port = procs.free_port()
            child = procs.start(
                name,
                argv_for_port(port),
                log_path=self.cell_dir / f"{name}.log",
                cwd=PROJECT_ROOT,
                cpus=set(cpus),
            )
            self.children.append(child)
            base = f"http://127.0.0.1:{port}"
            try:
                procs.wait_ready(base + "/health", child)
                return child, base
            except RuntimeError as exc:
                last = str(exc)
                child.stop()
                if "in use" not in _tail(self.cell_dir / f"{name}.log"):
                    break
        raise CellFailed(f"{name} did not start: {last}; {_tail(self.cell_dir / f'{name}.log')}")

    def start_subjects(self) -> str:
        suite, cell = self.options.suite, self.cell
        if suite.target is not None:
            return suite.target
        spec = SCENARIOS[cell.scenario]
        placement = self.options.placement
        backend_url = None
        if spec.needs_backend:
            backend, backend_url = self._start_http(
                "backend",
                lambda port: procs.server_argv("backend", port),
                placement.loadgen_cpus,
            )
            self.info["pids"]["backend"] = backend.pid
        server, base = self._start_http(
            "server",
            lambda port: procs.server_argv(
                cell.variant,
                port,
                loop=cell.loop,
                processes=cell.processes if cell.variant == "multiprocess" else None,
                threads=cell.threads,
                backend_url=backend_url,
            ),
            placement.server_cpus,
        )
        self.info["pids"]["server"] = server.pid
        self.server = server
        return base

    def locust_argv(self, base: str) -> list[str]:
        suite, cell = self.options.suite, self.cell
        run_time = math.ceil(planned_load_s(suite))
        argv = procs.python_argv(
            "-m",
            "locust",
            "-f",
            str(SCENARIOS[cell.scenario].locustfile),
            "--headless",
            "--users",
            str(cell.users),
            "--spawn-rate",
            str(max(cell.users * 10, 1)),
            "--run-time",
            f"{run_time}s",
            "--host",
            base,
            "--csv",
            str(self.cell_dir / "locust"),
            "--only-summary",
            "--loglevel",
            "WARNING",
            "--stop-timeout",
            "0",
            "--exit-code-on-error",
            "0",
            "--bench-out",
            str(self.cell_dir),
            "--bench-warmup",
            str(suite.warmup_s),
            "--bench-duration",
            str(suite.duration_s),
        )
        for key, value in cell.params.items():
            argv += [f"--{key}", str(value)]
        if self.options.workers > 1:
            argv += ["--processes", str(self.options.workers)]
        return argv

    def run_load(self, base: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
        locust = procs.start(
            "locust",
            self.locust_argv(base),
            log_path=self.cell_dir / "locust.log",
            env=env,
            cwd=PROJECT_ROOT,
            cpus=set(self.options.placement.loadgen_cpus),
        )
        self.children.append(locust)
        self.info["pids"]["locust"] = locust.pid
        roles = {
            "locust": locust.pid,
            **{
                role: pid
                for role, pid in self.info["pids"].items()
                if role in ("server", "backend")
            },
        }
        sampler = Sampler(roles)
        sampler.start()
        deadline = time.monotonic() + planned_load_s(self.options.suite) + WATCHDOG_SLACK_S
        server = self.server
        try:
            while locust.alive():
                if server is not None and not server.alive():
                    raise CellFailed(
                        f"server exited with code {server.popen.returncode} during load"
                    )
                if time.monotonic() > deadline:
                    raise CellFailed("watchdog: Locust ran far past its planned time")
                time.sleep(POLL_S)
        finally:
            rows = sampler.stop()
            frame = pd.DataFrame(rows, columns=SAMPLE_COLUMNS)
            io.atomic_write(
                self.cell_dir / "server_resources.csv", lambda tmp: frame.to_csv(tmp, index=False)
            )
        self.info["locust_exit_code"] = locust.popen.returncode
        if locust.popen.returncode not in (0, 1):
            raise CellFailed(
                f"Locust exited with code {locust.popen.returncode}: "
                f"{_tail(self.cell_dir / 'locust.log')}"
            )

    def collect(self) -> None:
        """Merge per-worker parts, record the window and the CPU figures."""
        windows = sorted(self.cell_dir.glob("locust_window*.json"))
        if not windows:
            raise CellFailed(f"Locust wrote no records: {_tail(self.cell_dir / 'locust.log')}")
        metas = [json.loads(p.read_text()) for p in windows]
        # With several Locust processes, the window is where all of them were measuring.
        window_start = max(m["window_start"] for m in metas)
        window_end = min(m["window_end"] for m in metas)
        self.info["window"] = {"start": window_start, "end": window_end}
        parts = sorted(self.cell_dir.glob("requests.w*.parquet")) + sorted(
            self.cell_dir.glob("outside.w*.parquet")
        )
        if parts:
            frame = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
            end = frame["start"] + frame["latency_ms"] / 1000.0
            inside = (end >= window_start) & (end < window_end)
            for name, rows in (("requests", frame[inside]), ("outside", frame[~inside])):
                rows = rows.sort_values("start", kind="stable")
                io.atomic_write(
                    self.cell_dir / f"{name}.parquet",
                    lambda tmp, f=rows: f.to_parquet(tmp, index=False),
                )
            for p in parts:
                p.unlink()
        resources = pd.read_csv(self.cell_dir / "server_resources.csv")
        inside = resources[(resources["t"] >= window_start) & (resources["t"] <= window_end)]
        self.info["server_cpu_pct"] = _mean_total(inside, ("server",))
        self.info["backend_cpu_pct"] = _mean_total(inside, ("backend",))
        # Saturation is per process: each Locust process is single-threaded.
        per_proc = inside[inside["role"] == "locust"].groupby("pid")["cpu_pct"].mean()
        self.info["loadgen_cpu_pct"] = float(per_proc.max()) if len(per_proc) else math.nan

    def stop_all(self) -> None:
        for child in reversed(self.children):
            child.stop()
        self.info["leftover_pids"] = sorted(
            pid for child in self.children for pid in procs.group_members(child.pid)
        )


def _mean_total(samples: pd.DataFrame, roles: tuple[str, ...]) -> float:
    part = samples[samples["role"].isin(roles)]
    if part.empty:
        return math.nan
    return float(part.groupby("t")["cpu_pct"].sum().mean())


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])[:400]


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Ignore Ctrl-C/SIGTERM while cleaning up, so a second Ctrl-C cannot strand a process."""
    old = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def run_cell(cell: Cell, cell_dir: Path, options: CellOptions) -> dict[str, Any]:
    """Run one cell; always writes cell.json and returns its content. Re-raises
    KeyboardInterrupt after recording the cell as interrupted and stopping its processes."""
    cell_dir.mkdir(parents=True, exist_ok=True)
    for stale in cell_dir.iterdir():  # a resumed cell starts clean
        if stale.is_file():
            stale.unlink()
    run = CellRun(cell, cell_dir, options)
    run.info = {
        "cell": cell.to_dict(),
        "status": "running",
        "reason": "",
        "placement": options.placement.to_dict(),
        "cores": len(options.placement.server_cpus),
        "workers": options.workers,
        "pids": {},
        "verification": [],
        "timings": {"started": time.time()},
        "suite": {
            "duration_s": options.suite.duration_s,
            "warmup_s": options.suite.warmup_s,
            "max_error_rate": options.suite.max_error_rate,
        },
    }
    interrupted = False
    try:
        base = run.start_subjects()
        spec = SCENARIOS[cell.scenario]
        problems = verify(base, spec.paths(cell.params), strict=options.suite.target is None)
        run.info["verification"] = problems or ["ok"]
        if problems:
            raise CellFailed("verification failed: " + "; ".join(problems))
        run.info["timings"]["load_started"] = time.time()
        run.run_load(base)
        run.collect()
        run.info["status"] = "ok"
    except CellFailed as exc:
        run.info["status"] = "failed"
        run.info["reason"] = str(exc)
    except KeyboardInterrupt:
        interrupted = True
        run.info["status"] = "interrupted"
        run.info["reason"] = "interrupted by the user"
    except Exception as exc:
        run.info["status"] = "failed"
        run.info["reason"] = f"harness error: {type(exc).__name__}: {exc}"
        print(f"harness error in {cell.cell_id}: {exc!r}", file=sys.stderr)
    finally:
        with shielded():
            run.stop_all()
            run.info["timings"]["ended"] = time.time()
            run.info["timings"]["wall_s"] = (
                run.info["timings"]["ended"] - run.info["timings"]["started"]
            )
            io.write_json(cell_dir / "cell.json", run.info)
    if interrupted:
        raise KeyboardInterrupt
    return run.info
