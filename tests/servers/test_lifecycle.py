"""Start-up, loops and shutdown of the launcher."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

from catalog.strategies import VARIANTS
from harness.processes import procs
from tests.conftest import launch_refusal, start_server


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_uvloop_is_really_used(variant: str) -> None:
    kwargs: dict[str, object] = {"loop": "uvloop"}
    if VARIANTS[variant].forks:
        kwargs["processes"] = 1
    srv = start_server(variant, **kwargs)
    try:
        status, _, body = srv.get("/health")
        assert status == 200
        assert b'"loop": "uvloop.Loop"' in body
    finally:
        srv.child.stop()


@pytest.mark.parametrize("variant", ["multiprocess", "sync", "coroutine", "threadpool"])
def test_sigterm_to_leader_leaves_no_process(variant: str) -> None:
    """SIGTERM to the server's own pid (not its group) stops it and every child in 5 s,
    even while blocking requests are in flight."""
    forks = VARIANTS[variant].forks
    kwargs: dict[str, object] = {"processes": 2} if forks else {}
    srv = start_server(variant, **kwargs)
    try:
        pids = procs.group_members(srv.child.pid)
        assert len(pids) == (3 if forks else 1)
        # Keep the workers busy in blocking sleeps while the signal arrives.
        conns = []
        for _ in range(4):
            c = socket.create_connection(("127.0.0.1", srv.port))
            c.sendall(b"GET /sleep?ms=8000 HTTP/1.1\r\nHost: x\r\n\r\n")
            conns.append(c)
        time.sleep(0.3)
        started = time.monotonic()
        srv.child.popen.send_signal(signal.SIGTERM)
        deadline = started + 5
        while time.monotonic() < deadline and procs.live(pids - {srv.child.pid}):
            time.sleep(0.05)
        srv.child.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        assert procs.live(pids) == set()
        assert srv.child.popen.returncode == 0
        for c in conns:
            c.close()
    finally:
        srv.child.stop()


def test_port_in_use_is_one_line_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "servers", "coroutine", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=20,
        )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "in use" in lines[0], result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["nosuch"],
        ["sync", "--loop", "trio"],
        ["threadpool", "--threads", "0"],
        ["sync", "--backend-url", "ftp://x"],
    ],
)
def test_bad_launch_arguments_fail_fast(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = launch_refusal(capsys, monkeypatch, *args, "--port", "0")
    assert result.returncode != 0
    assert result.stderr.strip()


def test_default_bind_is_loopback() -> None:
    srv = start_server("coroutine")
    try:
        conns = psutil.Process(srv.child.pid).net_connections(kind="tcp")
        listening = [c.laddr.ip for c in conns if c.status == psutil.CONN_LISTEN]
        assert listening == ["127.0.0.1"]
    finally:
        srv.child.stop()


def test_stop_reaps_group_even_if_leader_killed() -> None:
    """The harness's stop() clears forked workers even when the parent died first."""
    srv = start_server("multiprocess", processes=2)
    pids = procs.group_members(srv.child.pid)
    srv.child.popen.kill()  # the parent only: its workers are orphaned
    srv.child.popen.wait(timeout=5)
    srv.child.stop()
    assert not procs.group_alive(srv.child.pid)
    assert procs.live(pids) == set()
