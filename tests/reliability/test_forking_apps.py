"""A user's app that forks its own workers, or daemonizes a process of its own, leaves nothing
behind: not when its cell ends, and not when the harness is SIGKILLed mid-cell (the kernel
ends the app's PID namespace, harness/processes/containment.py). PR_SET_PDEATHSIG alone cannot cover
these: it is not inherited across fork."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from harness import placements
from harness.cell import CellOptions, run_cell
from harness.processes import containment, procs
from harness.suite.parse import load_suite
from tests.conftest import ROOT

pytestmark = pytest.mark.reliability
DEATH_GRACE_S = 2.0  # the promise: nothing of the app left 2 s after the harness's death

# Tornado's production pattern: bind, then fork one process per core (here 2).
FORKING = """
import sys
import tornado.web
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop
from tornado.netutil import bind_sockets
from tornado.process import fork_processes

class Any(tornado.web.RequestHandler):
    def get(self, _):
        self.write("Hello, world")

sockets = bind_sockets(int(sys.argv[1]), "127.0.0.1")
fork_processes(2)
server = HTTPServer(tornado.web.Application([(r"/(.*)", Any)]))
server.add_sockets(sockets)
IOLoop.current().start()
"""

# A process that daemonizes itself (fork, setsid, fork again) and serves the same socket, so
# the port stays taken for as long as the daemon lives.
DAEMONIZING = """
import os, sys
import tornado.web
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop
from tornado.netutil import bind_sockets

class Any(tornado.web.RequestHandler):
    def get(self, _):
        self.write("Hello, world")

sockets = bind_sockets(int(sys.argv[1]), "127.0.0.1")
if os.fork() == 0:
    os.setsid()
    if os.fork() != 0:
        os._exit(0)
server = HTTPServer(tornado.web.Application([(r"/(.*)", Any)]))
server.add_sockets(sockets)
IOLoop.current().start()
"""

APPS = {"forking": (FORKING, 3), "daemonizing": (DAEMONIZING, 2)}  # script, processes


def _suite(tmp: Path, kind: str, duration_s: float) -> Path:
    script, _ = APPS[kind]
    (tmp / f"{kind}_app.py").write_text(script)
    path = tmp / "suite.toml"
    path.write_text(
        f'name = "forks"\nduration_s = {duration_s}\nwarmup_s = 0.5\nusers = [2]\n\n'
        f'[[apps]]\nname = "{kind}"\ncommand = ["{{python}}", "{tmp / kind}_app.py", "{{port}}"]\n'
        'health = "/health"\n\n[[scenarios]]\nname = "hello"\n'
    )
    return path


def _app_processes(tmp: Path, kind: str) -> dict[int, psutil.Process]:
    """Every running process of the app (found by its script's name, which forks keep)."""
    marker = f"{tmp / kind}_app.py"
    found = {}
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if marker in (proc.info["cmdline"] or []) and proc.status() != psutil.STATUS_ZOMBIE:
                found[proc.pid] = proc
        except psutil.Error:
            continue
    return found


def _port_free(port: int) -> bool:
    """A new server can listen on it (SO_REUSEADDR, as servers bind: the connections the
    load left in TIME_WAIT do not hold the port, a live listener does)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            return False
    return True


def _listening_port(processes: dict[int, psutil.Process]) -> int | None:
    for proc in processes.values():
        try:
            for conn in proc.net_connections("tcp"):
                if conn.status == psutil.CONN_LISTEN:
                    return int(conn.laddr.port)
        except psutil.Error:
            continue
    return None


def _locust_runs(root: psutil.Process) -> bool:
    for proc in root.children(recursive=True):
        try:
            if "locust" in " ".join(proc.cmdline()):
                return True
        except psutil.Error:
            continue
    return False


def _wait_for(cond, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return bool(cond())


@pytest.mark.parametrize("kind", sorted(APPS))
def test_sigkill_of_the_harness_ends_an_app_that_forks(tmp_path: Path, kind: str) -> None:
    suite = _suite(tmp_path, kind, duration_s=30)
    harness = subprocess.Popen(
        [
            sys.executable,
            "run_bench.py",
            "run",
            str(suite),
            "--out",
            str(tmp_path / "r"),
            "--quiet",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seen: dict[int, psutil.Process] = {}
    try:
        root = psutil.Process(harness.pid)

        def loading() -> bool:  # the app's processes all up, and Locust running
            seen.update(_app_processes(tmp_path, kind))
            return len(seen) >= APPS[kind][1] and _locust_runs(root)

        assert _wait_for(loading, 60), seen
        time.sleep(1.0)  # mid-cell
        port = _listening_port(seen)
        assert port is not None
        harness.kill()
        harness.wait(timeout=10)
        killed = time.monotonic()
        # Both within the grace: the last process can leave /proc a moment before the kernel
        # has closed its listening socket.
        gone = _wait_for(
            lambda: not _app_processes(tmp_path, kind) and _port_free(port), DEATH_GRACE_S
        )
        took = time.monotonic() - killed
        left = _app_processes(tmp_path, kind)
        free = _port_free(port)
    finally:
        for proc in _app_processes(tmp_path, kind).values():  # never leave them to the next test
            with contextlib.suppress(psutil.Error):  # it may end between the listing and the kill
                proc.kill()
        if harness.poll() is None:
            harness.kill()
            harness.wait()
    print(f"{kind}: {len(seen)} app processes; {len(left)} left {took:.2f} s after SIGKILL")
    # The command lines read when they were listed: the `finally` above has killed them since.
    assert gone and free, {pid: p.info["cmdline"] for pid, p in left.items()}


@pytest.mark.parametrize("kind", sorted(APPS))
def test_a_normal_end_stops_every_process_of_an_app_that_forks(tmp_path: Path, kind: str) -> None:
    suite = load_suite(_suite(tmp_path, kind, duration_s=1))
    (cell,) = suite.cells()
    record = run_cell(cell, tmp_path / "cell", CellOptions(suite, placements.choose("split")))
    assert record.status == "ok", record.reason
    assert record.leftover_pids == ()
    assert _app_processes(tmp_path, kind) == {}


def test_a_namespace_ends_what_left_the_group(tmp_path: Path) -> None:
    """The mechanism itself: a double-forked, setsid'd process is reached by no group
    signal, yet it is gone once its namespace's nsinit is killed."""
    if not containment.wanted():
        pytest.skip(f"no PID namespace here: {containment.unavailable_reason()}")
    pids = tmp_path / "pids"
    script = (
        "import os, sys, time\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(60)\n"
        "    os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "time.sleep(60)\n"
    )
    child = procs.start("t", [sys.executable, "-c", script], contain=True)
    settled: dict[str, psutil.Process] = {}

    def look() -> bool:
        """init, program and daemon, once the daemon's short-lived parent (setsid, fork,
        exit) is gone and the namespace's init adopted it: a look in between sees that
        parent, or a process already reaped."""
        with contextlib.suppress(psutil.Error):
            below = procs.descendants(child.pid)
            others = [p for p in below if p.pid != child.program_pid]
            inits = [p for p in others if p.ppid() == child.pid]
            rest = [p for p in others if p not in inits]
            if len(below) == 3 and len(inits) == len(rest) == 1 and rest[0].ppid() == inits[0].pid:
                settled.update(init=inits[0], program=psutil.Process(child.program_pid))
                settled.update(daemon=rest[0])
                return True
        return False

    try:
        assert _wait_for(look, 10), procs.descendants(child.pid)
        daemon = settled["daemon"]
        assert os.getpgid(daemon.pid) not in (os.getpgid(child.pid), os.getpgid(child.program_pid))
        os.kill(child.pid, signal.SIGKILL)  # nsinit only, as a SIGKILLed harness does
        below = {p.pid for p in settled.values()}
        assert _wait_for(lambda: not procs.live(below), DEATH_GRACE_S)
    finally:
        child.kill()
    assert not pids.exists()


AS_USER = """
import sys, time
from harness.processes import containment
from harness.processes import procs
assert containment.wanted(), containment.unavailable_reason()
script = "import os, time\\nif os.fork() == 0:\\n    os.setsid()\\n    time.sleep(60)\\ntime.sleep(60)\\n"
child = procs.start("t", [sys.executable, "-c", script], contain=True)
deadline = time.monotonic() + 10
while len(procs.descendants(child.pid)) < 3 and time.monotonic() < deadline:
    time.sleep(0.05)
below = {p.pid for p in procs.descendants(child.pid)}
child.stop()
time.sleep(0.5)
print(len(below), len(procs.live(below)))
"""


def test_an_ordinary_user_gets_a_namespace_too() -> None:
    """The same mechanism as an unprivileged user (`nobody`), through a user namespace: run
    with the system's Python and a copy of the two modules it needs and of psutil."""
    python = Path("/usr/bin/python3")
    if os.geteuid() != 0 or not python.exists() or shutil.which("runuser") is None:
        pytest.skip("needs root, runuser and /usr/bin/python3 to act as an ordinary user")
    if f"{sys.version_info.major}.{sys.version_info.minor}" not in os.path.realpath(python):
        pytest.skip("the system's Python is another version than psutil was built for")
    # Not pytest's tmp_path: its parent folder is the invoking user's alone.
    with tempfile.TemporaryDirectory(prefix="tornado-bench-as-user-") as folder:
        os.chmod(folder, 0o755)
        _run_as_nobody(python, Path(folder))


def _run_as_nobody(python: Path, tmp_path: Path) -> None:
    for package in ("harness", "catalog", "record"):  # the harness and psutil, readable
        shutil.copytree(ROOT / package, tmp_path / package)
    shutil.copytree(Path(psutil.__file__).parent, tmp_path / "psutil")
    out = subprocess.run(
        ["runuser", "-u", "nobody", "--", str(python), "-c", AS_USER],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "cannot give servers a PID namespace" in out.stderr:
        pytest.skip(f"no user namespace for an ordinary user here: {out.stderr.strip()}")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3", "0"]  # init, program and daemon: all gone
