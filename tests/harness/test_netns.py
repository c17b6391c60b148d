"""The multi-machine path off loopback: two network namespaces of the test's own joined by a
veth pair in 198.18.0.0/15 (the range set aside for benchmarking, RFC 2544). The harness, its
servers and the Locust master run in one namespace, `run_bench.py worker` in the other, so
every record, hello and clock exchange crosses a real (virtual) link between two network
stacks. Neither namespace has any route but the pair's own /30: nothing outside them can be
contacted. Needs root and iproute2's `ip`; skipped with the reason elsewhere."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ROOT

MASTER_IP, WORKER_IP = "198.18.0.1", "198.18.0.2"
PORT = 5557  # the namespaces are the test's own: no other process can hold it
TOKEN = "netns-token"
RUN_TIMEOUT_S = 180.0
SUITE = """
name = "netns"
duration_s = 2
warmup_s = 0.5
variants = ["coroutine"]
users = [4]

[[scenarios]]
name = "sleep"
params = { ms = 20 }
"""
CELL = "coroutine-asyncio-sleep-ms20-u4-r1"


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2's ip is not installed (apt-get install iproute2)"
    return None


@dataclass
class Pair:
    master_ns: str
    worker_ns: str

    def exec_argv(self, ns: str, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", ns, *argv]


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    reason = _why_not()
    if reason is not None:
        pytest.skip(reason)
    tag = f"tb{os.getpid()}"
    made = Pair(f"{tag}-m", f"{tag}-w")
    steps = [
        ("netns", "add", made.master_ns),
        ("netns", "add", made.worker_ns),
        ("link", "add", f"{tag}a", "netns", made.master_ns, "type", "veth", "peer", "name",
         f"{tag}b", "netns", made.worker_ns),
        ("-n", made.master_ns, "addr", "add", f"{MASTER_IP}/30", "dev", f"{tag}a"),
        ("-n", made.worker_ns, "addr", "add", f"{WORKER_IP}/30", "dev", f"{tag}b"),
        ("-n", made.master_ns, "link", "set", f"{tag}a", "up"),
        ("-n", made.worker_ns, "link", "set", f"{tag}b", "up"),
        ("-n", made.master_ns, "link", "set", "lo", "up"),
        ("-n", made.worker_ns, "link", "set", "lo", "up"),
    ]  # fmt: skip
    try:
        for step in steps:
            done = _ip(*step)
            if done.returncode != 0:
                pytest.skip(f"cannot make network namespaces here: {done.stderr.strip()}")
        yield made
    finally:
        for ns in (made.master_ns, made.worker_ns):  # the veth pair goes with them
            _ip("netns", "del", ns)


def _run_argv(suite: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, str(ROOT / "run_bench.py"), "run", str(suite), "--out", str(out),
            "--quiet", *extra]  # fmt: skip


def _worker_argv(token: str) -> list[str]:
    return [sys.executable, str(ROOT / "run_bench.py"), "worker", "--master",
            f"{MASTER_IP}:{PORT}", "--token", token, "--worker-timeout", "40"]  # fmt: skip


@dataclass(frozen=True)
class Finished:
    code: int
    output: str
    worker_code: int
    worker_output: str
    intruder_code: int
    intruder_output: str
    run_dir: Path


def _start(argv: list[str], out: Path) -> subprocess.Popen[bytes]:
    with open(out, "wb") as fh:
        return subprocess.Popen(argv, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip


def _stop(popen: subprocess.Popen[bytes]) -> None:
    if popen.poll() is None:
        os.killpg(popen.pid, signal.SIGKILL)
        popen.wait()


@pytest.fixture(scope="module")
def remote_run(pair: Pair) -> Iterator[Finished]:
    tmp = Path(tempfile.mkdtemp(prefix="tb-netns-"))
    started: list[subprocess.Popen[bytes]] = []
    try:
        suite = tmp / "netns.toml"
        suite.write_text(SUITE)
        run = _start(
            pair.exec_argv(pair.master_ns, *_run_argv(
                suite, tmp / "results", "--remote-workers", "1", "--allow-remote",
                "--master-bind", MASTER_IP, "--master-port", str(PORT),
                "--server-host", MASTER_IP, "--token", TOKEN, "--worker-timeout", "60",
            )),
            tmp / "run.out",
        )  # fmt: skip
        started.append(run)
        # Both start at once: a worker retries its master until the run's master is up (up
        # to --worker-timeout); the intruder presents a wrong token.
        worker = _start(pair.exec_argv(pair.worker_ns, *_worker_argv(TOKEN)), tmp / "w.out")
        intruder = _start(pair.exec_argv(pair.worker_ns, *_worker_argv("wrong")), tmp / "i.out")
        started += [worker, intruder]
        code = run.wait(timeout=RUN_TIMEOUT_S)
        worker_code, intruder_code = worker.wait(timeout=90), intruder.wait(timeout=90)
        (run_dir,) = (tmp / "results").iterdir()
        yield Finished(
            code, (tmp / "run.out").read_text(), worker_code, (tmp / "w.out").read_text(),
            intruder_code, (tmp / "i.out").read_text(), run_dir,
        )  # fmt: skip
    finally:
        for popen in started:
            _stop(popen)
        shutil.rmtree(tmp, ignore_errors=True)


def test_records_cross_the_link_and_counts_reconcile(remote_run: Finished) -> None:
    assert remote_run.code == 0, remote_run.output + remote_run.worker_output
    info = json.loads((remote_run.run_dir / "cells" / CELL / "cell.json").read_text())
    assert info["status"] == "ok" and info["problems"] == [], info["reason"]
    remote = [w for w in info["loadgen_workers"] if not w["local"]]
    assert len(remote) == 1, info["loadgen_workers"]
    assert remote[0]["records"] > 20 and remote[0]["records"] == remote[0]["locust_requests"]
    assert sum(w["records"] for w in info["loadgen_workers"]) == info["records"]
    assert info["records"] == info["locust_requests"]
    # Every record it sent is stored: in the window (requests) or around it (outside).
    cell_dir = remote_run.run_dir / "cells" / CELL
    stored = sum(
        int((pd.read_parquet(cell_dir / name)["worker"] == remote[0]["worker"]).sum())
        for name in ("requests.parquet", "outside.parquet")
    )
    assert stored == remote[0]["records"]
    # The clock offset was measured across the link (one kernel clock: near zero).
    assert remote[0]["offset_s"] is not None and abs(remote[0]["offset_s"]) < 0.05
    assert remote[0]["rtt_ms"] is not None and remote[0]["rtt_ms"] > 0
    print(
        f"netns: {info['records']} records, {remote[0]['records']} from the remote worker, "
        f"offset {remote[0]['offset_s'] * 1000:.3f} ms, rtt {remote[0]['rtt_ms']:.2f} ms"
    )
    assert remote_run.worker_code == 0, remote_run.worker_output


def test_a_wrong_token_is_refused_on_the_wire(remote_run: Finished) -> None:
    assert remote_run.intruder_code == 1, remote_run.intruder_output
    assert "error: refused by the master: the token was refused" in remote_run.intruder_output
    info = json.loads((remote_run.run_dir / "cells" / CELL / "cell.json").read_text())
    refused = [n for n in info["notes"] if n.startswith("refused ")]
    assert len(refused) == 1 and refused[0].endswith(": the token was refused"), info["notes"]


def test_a_non_loopback_bind_needs_allow_remote(pair: Pair, tmp_path: Path) -> None:
    suite = tmp_path / "netns.toml"
    suite.write_text(SUITE)
    argv = _run_argv(suite, tmp_path / "r", "--remote-workers", "1", "--master-bind", MASTER_IP)
    done = subprocess.run(pair.exec_argv(pair.master_ns, *argv), cwd=ROOT, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "--allow-remote" in done.stderr and MASTER_IP in done.stderr
    assert not (tmp_path / "r").exists()


def test_nothing_outside_the_namespaces_is_reachable(pair: Pair) -> None:
    """By construction: each namespace has its loopback and its end of the pair, and no
    route but the pair's /30 (no default route), so no process in it can reach anything
    else."""
    for ns in (pair.master_ns, pair.worker_ns):
        routes = _ip("-n", ns, "route", "show").stdout.strip().splitlines()
        assert len(routes) == 1 and routes[0].startswith("198.18.0.0/30 "), routes
        links = [line.split(":")[1].strip().split("@")[0] for line in
                 _ip("-n", ns, "-o", "link", "show").stdout.splitlines()]  # fmt: skip
        assert len(links) == 2 and "lo" in links, links
