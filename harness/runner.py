"""Runs a suite: the cell matrix in order, progress, resume, run.json. Completed cells are on
disk the moment they finish, so nothing that finished is lost to a later failure or Ctrl-C."""

from __future__ import annotations

import math
import secrets
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from catalog.locust_env import locust_env
from catalog.paths import PROJECT_ROOT
from catalog.workloads import WORKLOADS
from harness import connections, environments, placements, preflight
from harness.calibration_figures import header_line
from harness.cell import CellOptions, run_cell
from harness.env import collect_environment, measure_speed, pinned
from harness.hosts import check_target, is_loopback
from harness.interrupts import sigterm_as_interrupt
from harness.processes import procs
from harness.processes.locust import WORKERS_MISSING
from harness.processes.locust_cmd import Distribution
from harness.processes.postgres import db_refusal
from harness.repeats import Precision, Repeats
from harness.suite.parse import Suite
from harness.timing import estimate_s
from record import calibration
from record.errors import UserError
from record.layout import RunLayout
from record.records import CellRecord, CellSpec, RunOptions, RunRecord
from record.run_meta import EnvironmentInfo, Preflight, Speed
from record.verdict import Judge, Verdict

# Asked after each judged cell: why the run must stop now (a threshold with abort_on_fail
# breached, judged by the analysis), or None to go on.
Stop = Callable[[], str | None]


class ThresholdBreach(Exception):
    """A threshold with abort_on_fail failed: the run stops, the cells done are kept."""


@dataclass
class RunOutcome:
    run_dir: Path
    counts: dict[str, int]
    interrupted: bool = False
    aborted: str = ""  # why abort_on_fail stopped the run ("" when it did not)


def new_run_dir(out: Path, suite: Suite) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_dir = out / f"{stamp}-{suite.name}"
    n = 1
    while run_dir.exists():
        n += 1
        run_dir = out / f"{stamp}-{suite.name}-{n}"
    return run_dir


def load_run_suite(run_dir: Path, *, allow_remote: bool = False) -> tuple[Suite, RunRecord]:
    """The suite a run was started with, checked again as a suite file would be: a run.json
    is input too (a results folder can come from anywhere), so its target must be loopback
    unless --allow-remote is given."""
    run = RunRecord.read(run_dir)
    try:
        suite = Suite.from_dict(run.suite)
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(
            f"{RunLayout(run_dir).run_json}: the suite stored in it is not usable ({type(exc).__name__}: "
            f"{exc}); start a new run instead"
        ) from None
    if suite.target is not None:
        check_target(suite.target, allow_remote, f"{RunLayout(run_dir).run_json}: target")
    _check_stored_scenarios(suite, RunLayout(run_dir).run_json)
    return suite, run


def _check_stored_scenarios(suite: Suite, source: Path) -> None:
    """A built-in scenario's stored parameters must be its own, in range, with no extra
    paths: anything else would reach Locust's command line or the verification requests."""
    for s in suite.scenarios:
        if s.file:
            continue  # checked against the user's own suite file (commands/run.py cmd_run)
        spec = WORKLOADS.get(s.name)
        if spec is None or s.verify:
            raise UserError(f"{source}: scenario {s.name!r} is not a built-in one; start a new run")
        for key, value in s.params.items():
            problem = spec.param_problem(key, value)
            if problem:
                raise UserError(
                    f"{source}: scenario {s.name}: parameter {key!r} is not its own ({problem});"
                    " start a new run"
                )


def runs_user_code(suite: Suite) -> bool:
    """Whether resuming the suite would start the user's commands or import their files."""
    return bool(suite.apps) or any(s.file for s in suite.scenarios)


def cell_done(cell_dir: Path) -> bool:
    try:
        return CellRecord.read(cell_dir).done
    except UserError:
        return False


def status_as_verdict(record: CellRecord, cell_dir: Path) -> Verdict:
    return Verdict(record.status, record.reason, math.nan)


def _open_run(
    suite: Suite,
    run_dir: Path,
    options: CellOptions,
    resumed: RunRecord | None,
    look: Preflight,
    infos: tuple[EnvironmentInfo, ...],
) -> RunRecord:
    """run.json at the start of a run (or of a resumed one, with the resume's preflight and
    environments), status running."""
    if resumed is None:
        run = RunRecord(
            run_id=run_dir.name,
            suite=suite.to_dict(),
            environment=collect_environment(),
            cells=tuple(c.cell_id for c in suite.cells()),
            options=RunOptions(
                workers=options.dist.local_workers,
                placement=options.placement,
                remote_workers=options.dist.remote_workers,
                master_bind=options.dist.master_bind,
                master_port=options.dist.master_port,
                worker_timeout_s=options.dist.worker_timeout_s,
                server_host=options.dist.server_host,
            ),
            started=time.time(),
            speed=Speed(before_s=measure_speed()),
            # The generator's measured ceiling (run_bench.py calibrate in the same results
            # folder), for the report's line and warnings.
            calibration=calibration.latest(run_dir.parent),
            preflight=look,
            environments=infos,
        )
    else:
        resumed_at = (*resumed.resumed, time.time())
        run = replace(
            resumed, status="running", resumed=resumed_at, preflight=look, environments=infos
        )
    run.write(run_dir)
    return run


def _progress(console: Any, quiet: bool) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
        transient=True,
    )


@dataclass
class _Session:
    """What running cells needs: where they go, how to judge them, what to show."""

    run_dir: Path
    options: CellOptions
    judge: Judge
    progress: Any
    task: Any
    counts: dict[str, int]
    repeats: Repeats | None
    stop: Stop | None = None
    speed_at: float | None = None  # the last speed reading, taken after the previous cell

    def speed(self) -> float:
        """The speed loop on the server's cores, between cells (never during a load)."""
        with pinned(self.options.placement.server_cpus):
            return measure_speed()

    def run(self, cells: list[CellSpec]) -> None:
        for cell in cells:
            self.progress.update(self.task, description=cell.cell_id)
            cell_dir = RunLayout(self.run_dir).cell(cell.cell_id).root
            before = self.speed() if self.speed_at is None else self.speed_at
            record = run_cell(cell, cell_dir, self.options)
            # A reading next to each cell (the one after it is the next cell's before): the
            # machine's speed drifts within a run, and two readings at its ends miss it.
            self.speed_at = self.speed()
            record = replace(record, speed=Speed(before, self.speed_at))
            record.write(cell_dir)
            if self.options.dist.remote_workers and record.reason.startswith(WORKERS_MISSING):
                raise WorkersMissing(record.reason)
            verdict = self.judge(record, cell_dir)
            word = verdict.status
            self.counts[word if word in self.counts else "failed"] += 1
            if self.repeats is not None:
                self.repeats.record(cell, verdict.rps)
            colour = {"ok": "green", "invalid": "yellow"}.get(word, "red")
            self.progress.console.print(
                f"[{colour}]{word:8}[/] {cell.cell_id:48} {verdict.line}", soft_wrap=True
            )
            self.progress.advance(self.task)
            why = self.stop() if self.stop is not None else None
            if why:
                raise ThresholdBreach(why)

    def adapt(self, suite: Suite, run: RunRecord) -> RunRecord:
        """Further rounds for the configurations whose interval is still too wide."""
        assert self.repeats is not None and suite.max_repeats is not None
        for repeat in range(suite.repeats + 1, suite.max_repeats + 1):
            wanted = self.repeats.wanted(repeat)
            if not wanted:
                break
            new = [c.cell_id for c in wanted if c.cell_id not in run.cells]
            run = replace(run, cells=(*run.cells, *new))
            run.write(self.run_dir)
            layout = RunLayout(self.run_dir)
            todo = [c for c in wanted if not cell_done(layout.cell(c.cell_id).root)]
            self.progress.update(self.task, total=self.progress.tasks[0].total + len(todo))
            self.run(todo)
        return run


def _judge_done(session: _Session, cells: list[CellSpec]) -> None:
    """A resumed run's finished cells count as evidence for the adaptive repeats."""
    if session.repeats is None:
        return
    for cell in cells:
        cell_dir = RunLayout(session.run_dir).cell(cell.cell_id).root
        verdict = session.judge(CellRecord.read(cell_dir), cell_dir)
        session.repeats.record(cell, verdict.rps)


def run_suite(
    suite: Suite,
    run_dir: Path,
    *,
    workers: int = 1,
    distribution: Distribution | None = None,
    placement: str | None = None,
    quiet: bool = False,
    resumed: RunRecord | None = None,
    judge: Judge = status_as_verdict,
    precision: Precision | None = None,
    db_url: str | None = None,
    stop: Stop | None = None,
    wait_quiet_s: float = 0.0,
) -> RunOutcome:
    """Run every cell of the suite not yet done into run_dir. `wait_quiet_s`: before the
    first cell, wait up to that long for a quiet machine (harness/preflight.py)."""
    from rich.console import Console

    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{run_dir}: cannot create the results folder ({exc.strerror})") from None
    dist = with_run_master_port(distribution or Distribution(local_workers=workers))
    connections.prepare()  # servers and Locust inherit the raised open-file limit
    options = _cell_options(suite, dist, placement, db_url)
    console = Console(stderr=False, quiet=quiet, highlight=False)
    # Every [[environments]] entry built (or found in the cache) before the first cell: a
    # package that cannot be had stops the run here, not halfway through.
    built = environments.build_all(
        suite.environments, lambda line: console.print(line, markup=False)
    )
    options = replace(options, environments=built)
    # The machine before the first cell, said in one line; each cell's own window is checked
    # again (foreign CPU), and the end of the run says how many were contended.
    look = preflight.wait_quiet(options.placement, wait_quiet_s, console.print)
    console.print(preflight.line(look), markup=False)
    infos = tuple(b.info for b in built.values())
    run = _open_run(suite, run_dir, options, resumed, look, infos)
    # The generator's CPU per request beside the server's, from this results folder's
    # calibration, for this run's placement (harness/calibration_figures.py).
    console.print(header_line(run.calibration, options.placement.mode), markup=False)
    cells = _planned(suite, run)
    todo = [c for c in cells if not cell_done(RunLayout(run_dir).cell(c.cell_id).root)]
    counts = {"ok": 0, "invalid": 0, "failed": 0, "skipped": len(cells) - len(todo)}
    total_s = estimate_s(suite.warmup_s, suite.duration_s, todo)
    skipped = f" ({counts['skipped']} already done)" if counts["skipped"] else ""
    more = f", up to {suite.max_repeats} repeats" if suite.adaptive else ""
    console.print(
        f"[bold]{suite.name}[/]: {len(cells)} cells{skipped}{more}, "
        f"about {total_s / 60:.1f} min → {run_dir}"
    )
    _announce(console, suite, dist)
    interrupted, stopped, aborted = False, "", ""
    repeats = Repeats(suite, precision) if suite.adaptive and precision is not None else None
    with sigterm_as_interrupt(), _progress(console, quiet) as progress:
        task = progress.add_task("cells", total=len(todo))
        session = _Session(run_dir, options, judge, progress, task, counts, repeats, stop)
        try:
            _judge_done(session, [c for c in cells if c not in todo])
            session.run(todo)
            if repeats is not None:
                run = session.adapt(suite, run)
        except KeyboardInterrupt:
            interrupted = True
        except WorkersMissing as exc:
            interrupted, stopped = True, str(exc)
        except ThresholdBreach as exc:
            aborted = str(exc)
    status = "interrupted" if interrupted else "aborted" if aborted else "complete"
    speed = replace(run.speed, after_s=measure_speed())
    unmet = tuple(repeats.unmet()) if repeats is not None and status == "complete" else ()
    replace(run, status=status, ended=time.time(), speed=speed, unmet_targets=unmet).write(run_dir)
    if dist.remote_workers and (stopped or not interrupted):
        announce_run_over(dist)
    if stopped:
        raise UserError(
            f"{stopped}; the run stopped, its completed cells are kept: start the workers, then "
            f"`python run_bench.py run --resume {run_dir}` with the same worker options"
        )
    return RunOutcome(run_dir=run_dir, counts=counts, interrupted=interrupted, aborted=aborted)


def _cell_options(
    suite: Suite, dist: Distribution, placement: str | None, db_url: str | None
) -> CellOptions:
    # The db scenarios' database (harness/processes/postgres.py): checked before anything starts.
    needs_db = any(not s.file and WORKLOADS[s.name].needs_db for s in suite.scenarios)
    return CellOptions(
        suite=suite,
        placement=placements.choose(placement or suite.placement),
        workers=dist.local_workers,
        distribution=dist,
        db_url=db_url,
        db_refused=db_refusal(needs_db, db_url),
    )


def announce_run_over(dist: Distribution) -> None:
    """Tell the waiting remote workers the run is over (loadgen/farewell.py), so they exit at
    once rather than after their timeout; bounded to a few seconds."""
    argv = procs.python_argv(
        "-m",
        "loadgen.farewell",
        "--bind",
        dist.master_bind,
        "--port",
        str(dist.master_port),
        "--workers",
        str(dist.remote_workers),
        "--seconds",
        str(FAREWELL_S),
    )
    child = procs.start("farewell", argv, env=locust_env(dist.token), cwd=PROJECT_ROOT)
    try:
        child.popen.wait(timeout=FAREWELL_S + 5)
    except subprocess.TimeoutExpired:
        pass
    finally:
        child.stop()


FAREWELL_S = 5.0


class WorkersMissing(Exception):
    """Fewer remote workers joined a cell than the run expects: the run stops."""


def _announce(console: Any, suite: Suite, dist: Distribution) -> None:
    """What the remote workers need, printed once, and what cannot work with them."""
    if not dist.remote_workers:
        return
    own = [s.name for s in suite.scenarios if s.file]
    if own:
        raise UserError(
            f"--remote-workers: workers run the built-in scenarios of their own checkout; "
            f"scenario {own[0]!r} is a Locust file of your own (use --workers on this machine)"
        )
    console.print(
        f"workers: start {dist.remote_workers} with `python run_bench.py worker --master "
        f"HOST:{dist.master_port} --token {dist.token}` (master listens on {dist.master_bind})"
    )
    if is_loopback(dist.server_host):
        console.print(
            "note: servers listen on loopback only; workers on other machines need "
            "--server-host ADDR"
        )


def with_run_master_port(dist: Distribution) -> Distribution:
    """A distributed run's master port and token are chosen once, for the whole run: remote
    workers started once serve every cell."""
    if not dist.distributed:
        return dist
    port = dist.master_port or procs.free_port(dist.master_bind)
    return replace(dist, master_port=port, token=dist.token or secrets.token_urlsafe(16))


def _planned(suite: Suite, run: RunRecord) -> list[CellSpec]:
    """The cells of the run in order: the suite's, plus any extra rounds run.json lists."""
    cells = suite.cells()
    known = {c.cell_id for c in cells}
    extra_rounds = range(suite.repeats + 1, (suite.max_repeats or suite.repeats) + 1)
    extra = {c.cell_id: c for r in extra_rounds for c in suite.round(r)}
    return cells + [extra[cid] for cid in run.cells if cid not in known and cid in extra]
