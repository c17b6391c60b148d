from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from catalog.server_config import ServerConfig
from harness.processes import procs

ROOT = Path(__file__).resolve().parents[1]


def run_bench(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """run_bench.py in a child process, output captured."""
    return subprocess.run(
        [sys.executable, "run_bench.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass(frozen=True)
class Ran:
    """What a run_bench.py command did, in the shape of subprocess.CompletedProcess."""

    returncode: int
    stdout: str
    stderr: str


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> Ran:
    """run_bench.main(args) in this process (from the project root, as run_bench() runs it),
    its output captured: for refusals, usage and listings, which start no process, so the
    second of imports a child would pay is not paid again for each. main's signal handlers
    are put back as they were."""
    import run_bench as cli

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    cwd = Path.cwd()
    capsys.readouterr()
    try:
        os.chdir(ROOT)
        try:
            code = cli.main(list(args))
        except SystemExit as exc:  # argparse's --help and its usage errors
            code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(cwd)
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    out = capsys.readouterr()
    return Ran(code, out.out, out.err)


def launch_refusal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str
) -> Ran:
    """The server launcher's main(args) in this process, for arguments it must refuse: a
    launch that got past its checks fails the test at once instead of serving."""
    from servers import launch

    def serve(*_: object) -> int:
        raise AssertionError(f"the launcher accepted {args} and would serve")

    monkeypatch.setattr(launch, "serve", serve)
    capsys.readouterr()
    try:
        code = launch.main(list(args))
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return Ran(code, out.out, out.err)


class Server:
    def __init__(self, child: procs.Child, port: int) -> None:
        self.child = child
        self.port = port
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path: str, timeout: float = 15.0) -> tuple[int, dict[str, str], bytes]:
        return procs.http_get(self.base + path, timeout=timeout)


def start_server(variant: str, **kwargs: object) -> Server:
    port = procs.free_port()
    # None: the launcher's default (the form the tests pass "not for this strategy" in).
    options = {k: v for k, v in kwargs.items() if v is not None}
    config = ServerConfig(variant=variant, port=port, **options)  # type: ignore[arg-type]
    child = procs.start(variant, procs.server_argv(config))
    try:
        procs.wait_ready(f"http://127.0.0.1:{port}/health", child)
    except Exception:
        child.stop()
        raise
    return Server(child, port)


@pytest.fixture(scope="session")
def backend() -> Iterator[Server]:
    server = start_server("backend")
    try:
        yield server
    finally:
        server.child.stop()


@pytest.fixture
def server_factory() -> Iterator[Callable[..., Server]]:
    """Start servers for one test; every one is stopped (group and all) afterwards."""
    with ExitStack() as stack:

        def factory(variant: str, **kwargs: object) -> Server:
            server = start_server(variant, **kwargs)
            stack.callback(server.child.stop)
            return server

        yield factory


def pytest_collection_finish(session: pytest.Session) -> None:
    """Locust's import monkey-patches the whole process for gevent (threads, sockets,
    subprocesses), which breaks the tests that run after it in ways far from the cause: the
    test process must never import it. Locust runs in the processes the harness starts."""
    if "locust" in sys.modules:
        raise pytest.UsageError(
            "a test module imported Locust during collection; it monkey-patches this process "
            "for gevent. Import it only in child processes (or a Locust file run by them)."
        )


# Notes that say what the machine did to a cell, not what the cell did: other processes
# (another test, on a busy CI runner) on its cores, or its generator's event loop starved.
MACHINE_NOTES = ("contended:", "generator stalled:")


def own_notes(notes: object) -> list[str]:
    """A summary row's notes but the machine's (MACHINE_NOTES)."""
    text = "" if notes is None or (isinstance(notes, float) and notes != notes) else str(notes)
    return [n for n in text.split("; ") if n and not n.startswith(MACHINE_NOTES)]
