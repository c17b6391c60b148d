"""The child-process toolkit: a port the launcher reports, a port taken meanwhile retried,
readiness polled until a deadline, a contained child's program found."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from catalog.server_config import ServerConfig
from harness.processes import containment, procs

# Binds the port it is given (SO_REUSEADDR off, so a held port fails), then serves nothing.
BINDER = """
import socket, sys, time
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError as exc:
    print(f"port {sys.argv[1]}: {exc.strerror}", flush=True)  # "Address already in use"
    sys.exit(1)
s.listen()
print("listening", flush=True)
time.sleep(60)
"""


def test_start_listening_reports_the_port_the_launcher_bound() -> None:
    child, port = procs.start_listening(
        "server",
        lambda f: procs.server_argv(ServerConfig(variant="coroutine", port=0), f),
        contain=True,
    )
    try:
        health = procs.wait_ready(f"http://127.0.0.1:{port}/health", child)
        assert health["variant"] == "coroutine" and port > 0
    finally:
        child.stop()
    assert not child.alive()


def test_a_port_taken_meanwhile_is_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    ports = iter([held.getsockname()[1], procs.free_port()])
    monkeypatch.setattr(procs, "free_port", lambda host="127.0.0.1": next(ports))
    logs = []

    def start_at(port: int) -> procs.Child:
        log = tmp_path / f"binder-{port}.log"
        logs.append(log)
        return procs.start("binder", [sys.executable, "-c", BINDER, str(port)], log_path=log)

    def ready(child: procs.Child, port: int) -> None:
        def said() -> None:
            if "listening" not in logs[-1].read_text():
                raise procs.NotYet("not listening yet")

        procs.poll_until(said, child, 10, "binder did not listen")

    try:
        child, port = procs.start_on_free_port(
            start_at, ready, lambda _c: "in use" in logs[-1].read_text()
        )
        try:
            assert port != held.getsockname()[1] and len(logs) == 2
        finally:
            child.stop()
    finally:
        held.close()


def test_poll_until_names_the_last_reason_at_the_deadline() -> None:
    def never() -> None:
        raise procs.NotYet("status 503")

    with pytest.raises(RuntimeError, match=r"thing did not answer within 0 s \(status 503\)"):
        procs.poll_until(never, None, 0.2, "thing did not answer")


def test_a_contained_childs_program_is_the_one_sampled() -> None:
    if not containment.wanted():
        pytest.skip(f"no PID namespace here: {containment.unavailable_reason()}")
    child = procs.start(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(30)"], contain=True
    )
    try:

        def forked() -> None:
            if child.program_pid == child.pid or len(procs.descendants(child.pid)) < 2:
                raise procs.NotYet("nsinit has not forked yet")

        procs.poll_until(forked, child, 10, "nsinit forked nothing")
        below = procs.descendants(child.pid)
        assert child.program_pid in {p.pid for p in below}
        assert "time.sleep(30)" in " ".join(
            next(p for p in below if p.pid == child.program_pid).cmdline()
        )
    finally:
        child.stop()
