"""One cell from start to teardown: backend and server on free ports, readiness, verification,
the load generator with resource sampling, its records checked, cell.json. Every process started here is
stopped here, and cell.json is written whatever happened (README, "Results"; record/layout.py)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from catalog.health import Health
from catalog.limits import DEFAULT_DB_POOL, DEFAULT_UPLOAD, MAX_BODY_SIZE
from catalog.paths import PROJECT_ROOT
from catalog.server_config import ServerConfig
from catalog.strategies import BACKEND, VARIANTS
from catalog.workloads import WORKLOADS
from harness import connections, outcome
from harness.environments import Built
from harness.interrupts import signals_deferred
from harness.processes import backlog, locust, logs, postgres, procs, profiler
from harness.processes.locust_cmd import Distribution, LoadSpec
from harness.processes.sampler import SAMPLE_COLUMNS, Sampler
from harness.suite.apps import TCP, AppEntry
from harness.suite.parse import Suite
from harness.suite.scenarios import ScenarioEntry
from harness.timing import live_warmup, planned_load_s
from harness.verify import verify
from record import io
from record.layout import CellLayout
from record.profile import GENERATOR
from record.records import CellRecord, CellSettings, CellSpec, Placement
from record.window import Window

# A cell that runs this much longer than planned is stopped and recorded as failed.
WATCHDOG_SLACK_S = 60.0
# How often the harness checks that the server still runs while Locust loads it.
POLL_S = 0.1
# Between two verifications within the suite's verify_grace_s.
VERIFY_RETRY_S = 0.25


def server_config(
    cell: CellSpec, *, host: str, backend_url: str | None, db_url: str | None, max_backlog: int
) -> ServerConfig:
    """The built-in server a cell measures (its port is filled in when one is free): the
    cell's processes are the forked processes of a forking strategy, the pool's workers of a
    process pool; an upload cell's limit is its own body size."""
    strategy = VARIANTS[cell.strategy]
    return ServerConfig(
        variant=cell.strategy,
        host=host,
        port=0,
        loop=cell.loop,
        processes=cell.processes if strategy.forks else 0,
        threads=cell.threads,
        pool_processes=cell.processes if strategy.process_pool else 0,
        backend_url=backend_url,
        reuse_port=cell.reuse_port,
        http_client=cell.http_client,
        max_backlog=max_backlog,
        upload=cell.upload or DEFAULT_UPLOAD,
        max_upload_bytes=cell.params["bytes"] if cell.upload else MAX_BODY_SIZE,
        db_url=db_url,
        db_pool=cell.params.get("pool", DEFAULT_DB_POOL),
    )


class CellFailed(Exception):
    """The cell could not produce a measurement; the message is the reason."""


@dataclass(frozen=True)
class CellOptions:
    suite: Suite
    placement: Placement
    # The db scenarios' database: the user's own (--db-url), else a throwaway one per cell;
    # db_refused, when set, is why db cells cannot run here (they fail with it, unstarted).
    db_url: str | None = None
    db_refused: str = ""
    workers: int = 1  # local Locust processes
    distribution: Distribution | None = None  # None: `workers` local ones, no remote
    # The suite's [[environments]], built (harness/environments.py), by name.
    environments: Mapping[str, Built] = field(default_factory=dict)

    @property
    def dist(self) -> Distribution:
        return self.distribution or Distribution(local_workers=self.workers)

    def interpreter(self, cell: CellSpec) -> Built | None:
        """The environment a cell's server and app run in; None: the harness's own."""
        if not cell.environment:
            return None
        built = self.environments.get(cell.environment)
        if built is None:
            raise CellFailed(f"environment {cell.environment} was not built for this run")
        return built


@dataclass(frozen=True)
class Subjects:
    """What the load goes to: the base URL, and the server to watch (None for a target); an
    app's command line as started (its port filled in), and a db scenario's database (for
    verification's own reads)."""

    base_url: str
    server: procs.Child | None
    command: tuple[str, ...] = ()
    db_url: str | None = None


@dataclass(frozen=True)
class LoadRun:
    """What running the load gave: Locust's exit code, every process's samples, the server's
    RSS before the load (by role), and a long-lived cell's /health readings."""

    exit_code: int | None
    samples: pd.DataFrame
    idle_rss: dict[str, int]
    readings: tuple[connections.Reading, ...] = ()


@dataclass(frozen=True)
class Measurement:
    verification: tuple[str, ...]
    load_started: float
    load_ended: float
    locust_exit_code: int | None
    window: Window
    cpu: outcome.CpuFigures
    outcome: outcome.LoadgenOutcome
    problems: tuple[str, ...] = ()  # seen by the harness; each makes the cell invalid
    # The server's RSS (all its processes) before the load and at its peak in the window.
    server_rss_idle_bytes: float = math.nan
    server_rss_peak_bytes: float = math.nan

    def recorded(self, record: CellRecord) -> CellRecord:
        """A cell's record with what only a cell that measured has."""
        return replace(
            record,
            verification=self.verification,
            load_started=self.load_started,
            load_ended=self.load_ended,
            locust_exit_code=self.locust_exit_code,
            window=self.window,
            server_cpu_pct=self.cpu.server_pct,
            backend_cpu_pct=self.cpu.backend_pct,
            loadgen_cpu_pct=self.cpu.loadgen_pct,
            loadgen_cpu_total_pct=self.cpu.loadgen_total_pct,
            loadgen_core_pct=self.cpu.loadgen_core_pct,
            server_shares=self.cpu.server_shares,
            foreign_cpu_server_pct=self.cpu.foreign_server_pct,
            foreign_cpu_generator_pct=self.cpu.foreign_generator_pct,
            problems=self.problems,
            notes=self.outcome.notes,
            records=self.outcome.records,
            locust_requests=self.outcome.locust_requests,
            loadgen_workers=self.outcome.workers,
            server_rss_idle_bytes=self.server_rss_idle_bytes,
            server_rss_peak_bytes=self.server_rss_peak_bytes,
        )


@dataclass
class CellRun:
    """One cell's steps. Each step returns what the next needs; the one state kept is
    `children`, every process the cell started so far, which stop_all stops whatever step
    failed. The cell's suite table and app are looked up once."""

    cell: CellSpec
    cell_dir: Path
    options: CellOptions
    children: list[procs.Child] = field(default_factory=list)
    entry: ScenarioEntry = field(init=False)
    app: AppEntry | None = field(init=False)
    built: Built | None = field(init=False)  # the cell's [[environments]] entry, built
    command: tuple[str, ...] = ()  # an app's command line as started, once it has been

    def __post_init__(self) -> None:
        self.entry = self.options.suite.entry(self.cell)
        self.app = self.options.suite.app(self.cell.strategy)
        self.built = self.options.interpreter(self.cell)

    @property
    def built_python(self) -> Path | None:
        return self.built.python if self.built is not None else None

    @property
    def python(self) -> str:
        """The interpreter of the cell's servers and apps."""
        return str(self.built.python) if self.built is not None else sys.executable

    @property
    def server_env(self) -> dict[str, str] | None:
        """A free-threaded environment's servers run with the GIL off (PYTHON_GIL=0: its
        extensions that did not declare themselves safe would turn it back on); None: the
        harness's own environment, inherited."""
        if self.built is None or not self.built.info.free_threaded:
            return None
        return {**os.environ, "PYTHON_GIL": "0"}

    def _check_environment(self, health: dict[str, Any]) -> None:
        """A built-in server must run its cell's environment: the versions it reports are
        the ones the environment was built with."""
        if self.built is None:
            return
        found = Health.from_json(json.dumps(health))
        info = self.built.info
        wanted = (info.python_version, info.packages.get("tornado", ""))
        if (found.python, found.tornado) != wanted:
            raise CellFailed(
                f"the server ran Python {found.python} with tornado {found.tornado}, not "
                f"environment {self.cell.environment}'s (Python {wanted[0]}, tornado {wanted[1]})"
            )

    @property
    def layout(self) -> CellLayout:
        return CellLayout(self.cell_dir)

    def _start_http(
        self,
        name: str,
        argv_for_port: Callable[[int], list[str]],
        cpus: tuple[int, ...],
        app: AppEntry | None = None,
        host: str = "127.0.0.1",
    ) -> tuple[procs.Child, str]:
        """Start a server (a built-in one, or the user's app) in a PID namespace of its own
        and wait until it answers. A built-in one binds port 0 and reports the port it got;
        an app is given a free port, and another if that one was taken meanwhile."""
        log = self.layout.log(name)
        common: dict[str, Any] = {"log_path": log, "cpus": set(cpus), "contain": True}
        try:
            if app is None:
                env = self.server_env if name == procs.SERVER else None
                child, port = procs.start_listening(
                    name,
                    lambda f: [*argv_for_port(0), "--port-file", str(f)],
                    cwd=PROJECT_ROOT,
                    env=env,
                    **common,
                )
                self.children.append(child)
                health = procs.wait_ready(f"http://{host}:{port}/health", child)
                if name == procs.SERVER:
                    self._check_environment(health)
            else:
                child, port = self._start_app(app, log, host, common)
        except RuntimeError as exc:
            if app is not None:  # the user needs the app's own words: its last log lines
                raise CellFailed(
                    f"app {app.name} did not start: {exc}; {log.name}: {logs.tail(log, 5)}"
                ) from None
            raise CellFailed(f"{name} did not start: {exc}; {logs.tail(log)}") from None
        return child, f"http://{host}:{port}"

    def _start_app(
        self, app: AppEntry, log: Path, host: str, common: dict
    ) -> tuple[procs.Child, int]:
        """A user's app is told its port ({port}): a free one, another if it says "in use"."""

        starts: dict[int, int] = {}  # port -> the log's size when the app was started on it

        def start_at(port: int) -> procs.Child:
            starts[port] = log.stat().st_size if log.exists() else 0
            self.command = tuple(app.argv(port, self.python))
            env, cwd = (
                {**app.environment(port, self.python), **(self.server_env or {})},
                Path(app.cwd),
            )
            child = procs.start("server", self.command, env=env, cwd=cwd, **common)
            self.children.append(child)
            return child

        def ready(child: procs.Child, port: int) -> None:
            how = app.ready
            if how.log:
                procs.wait_log_line(log, how.log, child, since=starts[port])
            if how.health == TCP:
                procs.wait_accepting(host, port, child)
            elif how.health:
                url = f"http://{host}:{port}{how.health}"
                procs.wait_answering(url, child, method=how.method, statuses=how.statuses)

        return procs.start_on_free_port(start_at, ready, procs.log_says_in_use(log), host=host)

    def start_subjects(self) -> Subjects:
        suite, cell, placement, app = (
            self.options.suite,
            self.cell,
            self.options.placement,
            self.app,
        )
        if suite.target is not None:
            return Subjects(suite.target, None)
        if app is not None:
            # Role "server": sampled, watched and stopped exactly like a built-in variant.
            server, base = self._start_http("server", app.argv, placement.server_cpus, app)
            return Subjects(base, server, command=self.command)
        backend_url = None
        db_url = self._start_database() if not self.entry.file else None
        if not self.entry.file and WORKLOADS[cell.scenario].needs_backend:
            _, backend_url = self._start_http(
                "backend",
                lambda port: procs.server_argv(ServerConfig(variant=BACKEND, port=port)),
                placement.loadgen_cpus,
            )
        # Remote workers reach the server on --server-host; nothing else leaves loopback.
        host = self.options.dist.server_host
        config = server_config(
            cell, host=host, backend_url=backend_url, db_url=db_url, max_backlog=suite.max_backlog
        )
        server, base = self._start_http(
            "server",
            lambda port: procs.server_argv(replace(config, port=port), python=self.built_python),
            placement.server_cpus,
            host=host,
        )
        return Subjects(base, server, db_url=db_url)

    def _start_database(self) -> str | None:
        """For a db scenario: the database's URL, after starting a throwaway PostgreSQL (role
        "backend": on the generator's cores, sampled, watched, stopped and its folder deleted
        with the cell) unless the run was given --db-url; None for any other scenario."""
        if not WORKLOADS[self.cell.scenario].needs_db:
            return None
        if self.options.db_refused:
            raise CellFailed(self.options.db_refused)
        url = self.options.db_url
        if url is None:
            cpus = set(self.options.placement.loadgen_cpus)
            try:
                db = postgres.start_throwaway(
                    self.layout.log("database"), cpus=cpus, name="backend"
                )
            except RuntimeError as exc:
                raise CellFailed(f"database did not start: {exc}") from None
            self.children.append(db)
            url = db.url
        return url

    def check(self, subjects: Subjects) -> tuple[str, ...]:
        """Verify before load. A built-in variant is checked deeply (status, type, body); a
        user's own server (a target, an app) by status, on the paths its scenario sends or,
        for a user's Locust file, on the paths the suite lists in `verify`."""
        suite, cell, entry = self.options.suite, self.cell, self.entry
        if entry.file:
            paths, strict = list(entry.verify), False
        else:
            paths = WORKLOADS[cell.scenario].paths(cell.params)
            strict = suite.target is None and self.app is None
        db_url = subjects.db_url
        deadline = time.monotonic() + suite.verify_grace_s
        problems = verify(subjects.base_url, paths, strict=strict, db_url=db_url)
        while problems and time.monotonic() < deadline:
            time.sleep(VERIFY_RETRY_S)
            problems = verify(subjects.base_url, paths, strict=strict, db_url=db_url)
        if problems:
            raise CellFailed("verification failed: " + "; ".join(problems) + self._why())
        return ("ok",)

    def _why(self) -> str:
        """For an app: its health path said it was ready, yet the paths did not serve; say
        so, and what retries verification while it finishes starting."""
        app = self.app
        if app is None:
            return ""
        grace, ready = self.options.suite.verify_grace_s, app.ready.describe()
        if grace > 0:
            return f" (still failing {grace:g} s after {ready} said ready: verify_grace_s)"
        return (
            f" ({ready} said ready before these paths could serve; if {app.name} is still "
            "starting then, set verify_grace_s = 5 in the suite to retry for 5 s)"
        )

    def start_load(self, subjects: Subjects) -> list[procs.Child]:
        """Start Locust (and its workers), held at its start gate until go(): its imports
        overlap the servers' verification instead of adding to the cell."""
        suite, cell, dist, entry = self.options.suite, self.cell, self.options.dist, self.entry
        load = LoadSpec(
            base_url=subjects.base_url,
            users=cell.users,
            params=cell.params,
            warmup_s=live_warmup(cell, suite.warmup_s),
            duration_s=suite.duration_s,
            rate=cell.rate,
            arrivals=suite.arrivals,
        )
        cpus = set(self.options.placement.loadgen_cpus)
        started = locust.start(load, entry.locustfile, bool(entry.file), self.cell_dir, dist, cpus)
        self.children += started
        return started

    def run_load(self, subjects: Subjects, started: list[procs.Child]) -> LoadRun:
        """Let the started Locust load (go) and run it to its end while sampling every
        process."""
        cell, dist, entry = self.cell, self.options.dist, self.entry
        # The sampler counts every Locust process, master and workers, as the generator.
        roles = [
            (procs.LOCUST if c.role == procs.LOCUST_WORKER else c.role, c.program_pid)
            for c in self.children
            if c.role in procs.ROLES
        ]
        placement = self.options.placement
        sampler = Sampler(
            roles, cores=tuple(sorted({*placement.server_cpus, *placement.loadgen_cpus}))
        )
        sampler.start()
        # An enqueue cell on a built-in server: its /health polled, backlog.csv written.
        builtin = subjects.server is not None and self.app is None
        poller = None
        if backlog.wanted(cell.scenario, bool(entry.file), builtin):
            poller = backlog.BacklogPoller(subjects.base_url + "/health")
            poller.start()
        # A long-lived cell on a built-in server: its connections counted through /health.
        live = None
        if builtin and connections.is_live(cell, bool(entry.file)):
            live = connections.ConnectionsPoller(subjects.base_url + "/health")
            live.start()
        locust.go(self.cell_dir)  # after the sampler's first look: the idle server
        profile = self._profile(subjects, started, sampler)
        readings: tuple[connections.Reading, ...] = ()
        try:
            self._watch(started[0], subjects.server, profile)
        finally:
            locust.gone(self.cell_dir)
            if live is not None:
                readings = tuple(live.stop())
                connections.write_readings(self.cell_dir, readings)
            samples = pd.DataFrame(sampler.stop(), columns=SAMPLE_COLUMNS)
            outcome.write_samples(self.cell_dir, samples)
            if poller is not None:
                backlog.write_backlog(self.cell_dir, poller.stop())
        code = started[0].popen.returncode
        if profile is not None:
            profile.finish()
        reason = locust.failure(self.cell_dir, dist, code)
        if reason:
            raise CellFailed(reason)
        return LoadRun(code, samples, dict(sampler.idle_rss), readings)

    def _watch(
        self,
        first: procs.Child,
        server: procs.Child | None,
        profile: profiler.ProfileRun | None = None,
    ) -> None:
        """Wait for Locust to finish; fail the cell if the server dies or Locust overruns.
        The profile starts and stops on time meanwhile."""
        suite, dist = self.options.suite, self.options.dist
        deadline = time.monotonic() + planned_load_s(suite.warmup_s, suite.duration_s)
        deadline += WATCHDOG_SLACK_S + (dist.worker_timeout_s if dist.distributed else 0.0)
        while True:
            wait = POLL_S if profile is None else profile.wait_s(POLL_S)
            with contextlib.suppress(subprocess.TimeoutExpired):
                first.popen.wait(timeout=wait)  # returns the moment Locust exits
                return
            if profile is not None:
                profile.step()
            for child in self.children:  # the server under test, and the backend it calls
                if child.role in (procs.SERVER, procs.BACKEND) and not child.alive():
                    code = child.popen.returncode
                    what = "database" if isinstance(child, postgres.Database) else child.name
                    raise CellFailed(f"{what} exited with code {code} during load")
            self._check_local_workers()
            if time.monotonic() > deadline:
                raise CellFailed("watchdog: Locust ran far past its planned time")

    def _profile(
        self, subjects: Subjects, started: list[procs.Child], sampler: Sampler
    ) -> profiler.ProfileRun | None:
        """py-spy over the measured window (harness/processes/profiler.py), timed from the go
        (the window opens after the warm-up): the server's process tree, from the generator's
        cores; for calibrate --profile, the Locust processes, from the server's. None when
        profiling is off, or the load goes to a target (no process of this cell's)."""
        suite, placement = self.options.suite, self.options.placement
        settings = suite.profile
        if not settings.enabled:
            return None
        if settings.target == GENERATOR:
            roots = tuple(c.program_pid for c in started)
            cpus, role, folder = placement.server_cpus, profiler.GENERATOR_PROFILER, PROJECT_ROOT
        elif subjects.server is not None:
            roots = (subjects.server.program_pid,)
            cpus, role = placement.loadgen_cpus, profiler.PROFILER
            folder = Path(self.app.cwd) if self.app is not None else PROJECT_ROOT
        else:
            return None
        # Follow the processes below the roots where there are (forked, a pool's) or may be
        # (an app's own); one process alone is sampled without py-spy's watch for children.
        below = self.app is not None or len(roots) > 1 or bool(procs.descendants(roots[0]))

        def keep(child: procs.Child) -> None:
            self.children.append(child)  # stopped with the cell, whatever happens
            sampler.watch(child.role, child.pid)

        start = time.time() + live_warmup(self.cell, suite.warmup_s)
        return profiler.ProfileRun(
            settings,
            roots,
            self.layout,
            cpus,
            start,
            start + suite.duration_s,
            keep,
            subprocesses=below,
            folders=(str(folder),),
            role=role,
        )

    def _check_local_workers(self) -> None:
        """A local worker that died before the load began would leave its master waiting out
        the worker timeout; once the load runs, the master reports it lost instead. (A worker
        that exits 0 was told to quit by its master, which says why itself.)"""
        if io.exists_or_writing(self.layout.requests):
            return
        for child in self.children:
            if child.role == procs.LOCUST_WORKER and child.popen.poll() not in (None, 0):
                code, log = child.popen.returncode, self.layout.log(child.name)
                raise CellFailed(
                    f"Locust worker {child.index} exited with code {code} "
                    f"before the load began: {logs.tail(log)}"
                )

    def measure(self) -> Measurement:
        """The cell's steps in order; each returns what the next needs."""
        subjects = self.start_subjects()
        started = self.start_load(subjects)
        verification = self.check(subjects)
        load_started = time.time()
        load = self.run_load(subjects, started)
        load_ended = time.time()
        try:
            loadgen = outcome.read_outcome(self.cell_dir)
        except outcome.NoRecords as exc:
            raise CellFailed(f"{exc}: {logs.tail(self.layout.log(procs.LOCUST))}") from None
        window, placement, samples = loadgen.window, self.options.placement, load.samples
        shared = set(placement.loadgen_cpus) & set(placement.server_cpus)
        reported = tuple(w.cpu for w in loadgen.workers)
        cores = len(placement.loadgen_cpus)
        cpu = outcome.cpu_figures(samples, window, cores, bool(shared), reported)
        on_server, on_generator = outcome.foreign_cpu(
            samples, window, placement.server_cpus, placement.loadgen_cpus
        )
        cpu = replace(cpu, foreign_server_pct=on_server, foreign_generator_pct=on_generator)
        problems = loadgen.problems + outcome.problems(samples, window)
        if connections.is_live(self.cell, bool(self.entry.file)):
            figures = connections.figures(
                self.cell, self.cell_dir, window, load.readings, samples, load.idle_rss
            )
            figures.write(self.cell_dir)
        else:  # any other cell whose records hold connections or polls (loadgen/users.py)
            found = connections.from_records(
                self.cell, self.cell_dir, window, samples, load.idle_rss
            )
            if found is not None:
                found.write(self.cell_dir)
        return Measurement(
            verification,
            load_started,
            load_ended,
            load.exit_code,
            window,
            cpu,
            loadgen,
            problems,
            server_rss_idle_bytes=float(load.idle_rss.get("server", math.nan)),
            server_rss_peak_bytes=outcome.peak_rss(samples, window),
        )

    def stop_all(self) -> tuple[int, ...]:
        """Stop every group this cell started, and every process that left its group (an
        app's daemonized helper); the pids still running afterwards (none)."""
        leftover: set[int] = set()
        for child in reversed(self.children):
            below = procs.descendants(child.pid) if child.alive() else []
            child.stop()
            leftover |= procs.kill_survivors(below)
        leftover |= {pid for c in self.children for pid in procs.group_members(c.pid)}
        return tuple(sorted(leftover))


def _clean(cell_dir: Path) -> None:
    """A resumed cell starts from an empty folder."""
    cell_dir.mkdir(parents=True, exist_ok=True)
    for stale in cell_dir.iterdir():
        if stale.is_file():
            stale.unlink()


def run_cell(cell: CellSpec, cell_dir: Path, options: CellOptions) -> CellRecord:
    """Run one cell; always writes cell.json and returns its record. Re-raises
    KeyboardInterrupt after recording the cell as interrupted and stopping its processes."""
    _clean(cell_dir)
    run = CellRun(cell, cell_dir, options)
    started = time.time()
    measured: Measurement | None = None
    status, reason, interrupted = "failed", "", False
    try:
        measured = run.measure()
        status = "ok"
    except CellFailed as exc:
        reason = str(exc)
    except KeyboardInterrupt:
        status, reason, interrupted = "interrupted", "interrupted by the user", True
    except Exception as exc:
        reason = f"harness error: {type(exc).__name__}: {exc}"
        print(f"harness error in {cell.cell_id}: {exc!r}", file=sys.stderr)
    finally:
        with signals_deferred():
            leftover = run.stop_all()
            record = _record(cell, options, run, measured, status, reason, leftover, started)
            record.write(cell_dir)
    if interrupted:
        raise KeyboardInterrupt
    return record


def _record(
    cell: CellSpec,
    options: CellOptions,
    run: CellRun,
    measured: Measurement | None,
    status: str,
    reason: str,
    leftover: tuple[int, ...],
    started: float,
) -> CellRecord:
    suite = options.suite
    record = CellRecord(
        cell=cell,
        status=status,
        reason=reason,
        command=run.command,
        locustfile=run.entry.file,
        settings=CellSettings(
            suite.duration_s, suite.warmup_s, suite.max_error_rate, headline=run.entry.headline
        ),
        placement=options.placement,
        cores=len(options.placement.server_cpus),
        workers=options.workers,
        pids={c.name: c.pid for c in run.children},
        leftover_pids=leftover,
        started=started,
        ended=time.time(),
        # A cell that failed before it measured has a window only if it is ok: none here.
        window=measured.window if measured is not None else None,
    )
    return measured.recorded(record) if measured is not None else record
