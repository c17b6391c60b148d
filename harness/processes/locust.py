"""The load generator of one cell, started on the generator's cores: one Locust process, or
Locust's master and its local workers (remote ones join by themselves, harness/remote_worker.py).
Every process runs in its own group and dies with the harness (harness/processes/procs.py)."""

from __future__ import annotations

from pathlib import Path

from catalog.locust_env import LOCAL_WORKER, locust_env
from catalog.paths import PROJECT_ROOT
from harness.processes import logs, procs
from harness.processes.locust_cmd import Distribution, LoadSpec, locust_argv, worker_argv
from record.layout import CellLayout

# The reason of a cell whose Locust workers did not all join: the run stops on it when remote
# workers were expected (harness/runner.py).
WORKERS_MISSING = "Locust workers missing"


def start(
    load: LoadSpec,
    scenario_file: Path,
    own_file: bool,
    cell_dir: Path,
    dist: Distribution,
    cpus: set[int],
) -> list[procs.Child]:
    """The master (or single process) first, then the local workers, running `load` once
    the harness says go (go(cell_dir)): they import Locust while the servers are verified.
    Each starts on every core and moves onto `cpus`, the generator's, once it has imported
    (locust_cmd._placed): three imports queued on one core made a cell 1.4 s longer."""
    argv = locust_argv(
        scenario_file=scenario_file,
        cell_dir=cell_dir,
        load=load,
        distribution=dist,
        gated=True,
        cpus=cpus,
    )
    env = locust_env(dist.token, user_pythonpath=own_file)
    log = CellLayout(cell_dir).log(procs.LOCUST)
    started = [procs.start("locust", argv, log_path=log, env=env, cwd=PROJECT_ROOT)]
    for i in range(dist.local_workers if dist.distributed else 0):
        started.append(
            procs.start(
                f"locust-w{i}",
                worker_argv(scenario_file, _local_master_host(dist), dist.master_port, cpus),
                log_path=cell_dir / f"locust-w{i}.log",
                env={**env, LOCAL_WORKER: "1"},
                cwd=PROJECT_ROOT,
                role=procs.LOCUST_WORKER,
                index=i,
            )
        )
    return started


def go(cell_dir: Path) -> None:
    """Let the started generator load (loadgen/go.py): the servers are verified."""
    CellLayout(cell_dir).go.touch()


def gone(cell_dir: Path) -> None:
    """The go file has served once the load ran: a results folder holds only results."""
    CellLayout(cell_dir).go.unlink(missing_ok=True)


def _local_master_host(dist: Distribution) -> str:
    """Where a local worker finds its master: the address the master binds (it binds that
    one only: with --master-bind 192.0.2.10 nothing listens on 127.0.0.1), loopback when it
    binds every address."""
    return "127.0.0.1" if dist.master_bind in ("0.0.0.0", "::", "") else dist.master_bind


def failure(cell_dir: Path, dist: Distribution, exit_code: int | None) -> str:
    """Why the generator produced no measurement ("" when it did its part)."""
    log = CellLayout(cell_dir).log(procs.LOCUST)
    text = logs.read(log)
    if dist.distributed and "Gave up waiting for workers" in text:
        # The master names each worker it refused and why (loadgen/master.py).
        refused = sorted(
            {line.split(" refused: ", 1)[1] for line in text.splitlines() if " refused: " in line}
        )
        why = f"; refused: {', '.join(refused)}" if refused else ""
        return (
            f"{WORKERS_MISSING}: fewer than {dist.expected} joined within "
            f"{dist.worker_timeout_s:g} s ({dist.local_workers} local, "
            f"{dist.remote_workers} remote expected){why}"
        )
    if exit_code not in (0, 1):
        return f"Locust exited with code {exit_code}: {logs.tail(log)}"
    return ""
