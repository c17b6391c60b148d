"""`run_bench.py worker`: load from another machine (or another folder of this one) for a whole
run. A Locust worker process serves one cell (it exits when its master quits), so this starts
`processes` of them for each cell in turn, from this checkout's own scenario files, until the
master has been unreachable for the worker timeout, or the master refuses them.

Nothing is written into the run's results folder: records travel to the master through Locust's
message API (loadgen/worker.py). Each Locust worker runs in its own process group and dies
with this process (harness/processes/procs.py), and stops loading by itself when its master goes silent.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from catalog.locust_env import WORKER_STATE, locust_env
from catalog.paths import PROJECT_ROOT
from catalog.workloads import WORKLOADS
from harness.processes import procs
from harness.processes.locust_cmd import worker_argv
from record.errors import UserError
from record.worker_state import StateNote, WorkerState

TOKEN_ENV = "TORNADO_BENCH_TOKEN"
POLL_S = 0.2


@dataclass(frozen=True)
class MasterAddress:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> MasterAddress:
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise UserError(f"--master {text!r}: expected HOST:PORT, e.g. 192.0.2.10:5557")
        return cls(host.strip("[]"), int(port))


def scenario_files() -> str:
    """Every built-in scenario's Locust file (the files they import are loaded as modules)."""
    return ",".join(sorted({str(spec.locustfile) for spec in WORKLOADS.values()}))


class CellOutcome(Enum):
    """How serving one cell ended."""

    SERVED = "served"  # a worker joined the cell and the cell ended
    UNREACHABLE = "unreachable"  # no worker joined within the timeout
    RUN_OVER = "run over"  # the master said the run has ended
    REFUSED = "refused"  # the master refused the workers (the reason goes with it)


class Supervisor:
    def __init__(self, master: MasterAddress, token: str, processes: int, timeout_s: float):
        self.master, self.token = master, token
        self.processes, self.timeout_s = processes, timeout_s
        self.tmp = Path(tempfile.mkdtemp(prefix="tornado-bench-worker-"))
        self.cells = 0

    def _start(self, cell: int) -> list[tuple[procs.Child, Path]]:
        started = []
        for i in range(self.processes):
            state = self.tmp / f"cell{cell}.w{i}.state"
            env = locust_env(self.token, extra={WORKER_STATE: str(state)})
            argv = worker_argv(scenario_files(), self.master.host, self.master.port)
            log = self.tmp / f"cell{cell}.w{i}.log"
            child = procs.start(f"worker{i}", argv, log_path=log, env=env, cwd=PROJECT_ROOT)
            started.append((child, state))
        return started

    def one_cell(self) -> tuple[CellOutcome, str]:
        """Serve one cell: how it ended, and the master's reason when it refused."""
        children = self._start(self.cells)
        deadline = time.monotonic() + self.timeout_s
        try:
            while any(c.alive() for c, _ in children):
                joined = any(StateNote.read(s) is not None for _, s in children)
                if not joined and time.monotonic() > deadline:
                    return CellOutcome.UNREACHABLE, ""
                time.sleep(POLL_S)
        finally:
            for child, _ in children:
                child.stop()
        notes = [n for _, s in children if (n := StateNote.read(s)) is not None]
        for state, outcome in (
            (WorkerState.REFUSED, CellOutcome.REFUSED),
            (WorkerState.RUN_OVER, CellOutcome.RUN_OVER),
        ):
            for note in notes:
                if note.state == state:
                    return outcome, note.reason
        return (CellOutcome.SERVED if notes else CellOutcome.UNREACHABLE), ""

    def run(self) -> int:
        where = f"{self.master.host}:{self.master.port}"
        print(f"worker: {self.processes} Locust process(es) for the master at {where}", flush=True)
        try:
            while True:
                outcome, reason = self.one_cell()
                if outcome is CellOutcome.REFUSED:
                    print(f"error: refused by the master: {reason}")
                    return 1
                if outcome is CellOutcome.RUN_OVER:
                    print(f"worker: the run ended; served {self.cells} cell(s)", flush=True)
                    return 0
                if outcome is CellOutcome.UNREACHABLE:
                    print(
                        f"worker: master {where} unreachable for {self.timeout_s:g} s; "
                        f"served {self.cells} cell(s)",
                        flush=True,
                    )
                    return 0 if self.cells else 1
                self.cells += 1
                print(f"worker: cell {self.cells} done", flush=True)
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


def serve(master: str, token: str | None, processes: int, timeout_s: float) -> int:
    token = token or os.environ.get(TOKEN_ENV, "")
    if not token:
        raise UserError(f"worker: give the run's token with --token T or {TOKEN_ENV}")
    return Supervisor(MasterAddress.parse(master), token, processes, timeout_s).run()
