"""processpool: the work runs in warm worker processes of the server, which are sampled with
it and never outlive it, whatever stops the server."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import psutil
import pytest

from catalog.payloads import cpu_work
from catalog.strategies import VARIANTS
from harness.cell import CellOptions, run_cell
from harness.placements import choose
from harness.processes import procs
from harness.processes.sampler import Sampler
from harness.suite.parse import parse_suite
from record.errors import UserError
from servers.processpool import WORKER_PID_HEADER
from tests.conftest import Server, launch_refusal
from tests.servers.inprocess import AppUnderTest

VARIANT = next(name for name, v in VARIANTS.items() if v.process_pool)
# Generous: a stopped server's workers go within its shutdown grace (2 s) or at once
# (their lifeline); a loaded machine gets the rest.
GONE_WITHIN_S = 8.0


def pool_workers(server_pid: int) -> set[int]:
    """The server's pool workers: its children started by multiprocessing's spawn (not its
    resource tracker)."""
    found = set()
    for child in psutil.Process(server_pid).children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.add(child.pid)
        except psutil.NoSuchProcess:
            continue
    return found


def wait_gone(pids: set[int]) -> set[int]:
    deadline = time.monotonic() + GONE_WITHIN_S
    while procs.live(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return procs.live(pids)


def test_cpu_is_right_and_computed_in_another_process(
    serve: Callable[..., AppUnderTest],
) -> None:
    srv = serve(VARIANT, pool_processes=2)
    status, headers, body = srv.get("/cpu?n=54321")
    assert status == 200, body
    assert json.loads(body) == {"n": 54321, "result": cpu_work(54321)}
    worker = int(headers[WORKER_PID_HEADER])
    assert worker != os.getpid()
    assert worker in {p.pid for p in psutil.Process().children()}


@pytest.mark.parametrize("path", ["/cpu", "/cpu?n=0", "/cpu?n=abc", "/sleep?ms=-1"])
def test_bad_parameters_are_400_without_touching_the_pool(
    serve: Callable[..., AppUnderTest], path: str
) -> None:
    srv = serve(VARIANT, pool_processes=1)
    status, headers, body = srv.get(path)
    assert status == 400 and WORKER_PID_HEADER not in headers
    assert body.startswith(b"400: ") and b"Traceback" not in body


def test_pool_is_warm_before_the_first_request(server_factory: Callable[..., Server]) -> None:
    srv = server_factory(VARIANT, pool_processes=3)
    # wait_ready's /health is the only request so far, and it does not use the pool.
    workers = pool_workers(srv.child.pid)
    assert len(workers) == 3

    def one(_: int) -> int:
        status, headers, body = procs.http_get(srv.base + "/sleep?ms=300", timeout=30.0)
        assert status == 200, body
        return int(headers[WORKER_PID_HEADER])

    with ThreadPoolExecutor(max_workers=6) as pool:
        used = set(pool.map(one, range(6)))
    assert used <= workers and len(used) >= 2
    assert pool_workers(srv.child.pid) == workers  # no worker started on demand


def test_worker_cpu_is_sampled_with_the_server(server_factory: Callable[..., Server]) -> None:
    srv = server_factory(VARIANT, pool_processes=1)
    sampler = Sampler({"server": srv.child.pid}, interval_s=0.2)
    sampler.start()
    started = time.monotonic()
    while time.monotonic() - started < 1.5:
        assert srv.get("/cpu?n=300000")[0] == 200
    rows = sampler.stop()
    workers = pool_workers(srv.child.pid)
    busy = sum(cpu for _, _, pid, cpu, _ in rows if pid in workers)
    idle_server = sum(cpu for _, _, pid, cpu, _ in rows if pid == srv.child.pid)
    # The work is the worker's: it burns far more CPU than the server process itself.
    assert busy > 2 * idle_server and busy > 100


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_workers_never_outlive_the_server(
    server_factory: Callable[..., Server], sig: signal.Signals
) -> None:
    """SIGTERM (the server stops its pool) or SIGKILL (it can do nothing; the workers'
    lifeline ends them) to the server process alone, not its group, with work in flight."""
    srv = server_factory(VARIANT, pool_processes=2)
    workers = pool_workers(srv.child.pid)
    assert len(workers) == 2
    with ThreadPoolExecutor(max_workers=2) as pool:
        busy = [pool.submit(procs.http_get, srv.base + "/sleep?ms=5000", 10) for _ in range(2)]
        time.sleep(0.5)
        srv.child.popen.send_signal(sig)
        assert wait_gone(workers) == set()
        for future in busy:
            with pytest.raises(OSError):
                future.result(timeout=10)
    srv.child.popen.wait(timeout=5)


def test_stopping_the_group_leaves_no_process(server_factory: Callable[..., Server]) -> None:
    srv = server_factory(VARIANT, pool_processes=2)
    members = procs.group_members(srv.child.pid)
    assert pool_workers(srv.child.pid) <= members
    srv.child.stop()
    assert wait_gone(members) == set()


@pytest.mark.parametrize("value", ["-1", "65", "x"])
def test_bad_pool_processes_fail_fast(
    value: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = launch_refusal(capsys, monkeypatch, VARIANT, "--pool-processes", value, "--port", "0")
    assert result.returncode != 0 and "pool-processes" in result.stderr


def test_suite_pool_processes_sets_the_cells_and_is_bounded() -> None:
    data = {
        "variants": [VARIANT, "sync"],
        "scenarios": [{"name": "cpu", "params": {"n": 1000}, "users": [1]}],
        "server": {"pool_processes": 3, "processes": 2},
    }
    cells = {c.variant: c for c in parse_suite(data, "t.toml").cells()}
    assert cells[VARIANT].processes == 3 and cells["sync"].processes == 1
    default = parse_suite({**data, "server": {}, "placement": "shared"}, "t.toml").cells()
    assert default[0].processes == len(os.sched_getaffinity(0))
    with pytest.raises(UserError, match=r"server\.pool_processes"):
        parse_suite({**data, "server": {"pool_processes": 65}}, "t.toml")


def test_a_short_real_cell_samples_the_workers(tmp_path: Path) -> None:
    """One real cell through the harness: the server started with its pool size, every
    answer verified by Locust, and the workers' CPU in the server's samples."""
    suite = parse_suite(
        {
            "name": "t",
            "duration_s": 2,
            "warmup_s": 0,
            "variants": [VARIANT],
            "placement": "shared",
            "server": {"pool_processes": 2},
            "scenarios": [{"name": "cpu", "params": {"n": 20000}, "users": [2]}],
        },
        "t.toml",
    )
    (cell,) = suite.cells()
    assert cell.processes == 2
    record = run_cell(cell, tmp_path, CellOptions(suite, choose("shared")))
    assert record.status == "ok", record.reason
    samples = pd.read_csv(tmp_path / "server_resources.csv")
    server = samples[samples["role"] == "server"]
    # The server process and its two workers at least (and multiprocessing's tracker).
    assert server["pid"].nunique() >= 3
    by_pid = server.groupby("pid")["cpu_pct"].sum()
    assert (by_pid > 0).sum() >= 2  # the work was not all in one process
