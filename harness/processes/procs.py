"""The child-process toolkit: every process the harness starts is started, made ready and
stopped here. Each child runs in its own session (so its whole process group can be
signalled), dies with the harness (PR_SET_PDEATHSIG), optionally on given cores, as an
unprivileged user, and in a PID namespace of its own (harness/processes/containment.py: what it forks
dies with it too). Readiness is polled (`poll_until`), a server's port is the one it reports
(`start_listening`) or a free one retried (`start_on_free_port`). Stopped by group, always
reaped. Nothing here is ever found by name."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from catalog.lifeline import die_with_parent
from catalog.server_config import ServerConfig
from harness.processes import containment, logs
from record.announce import read_port

T = TypeVar("T")

# How long a stopped group gets between SIGTERM and SIGKILL; servers stop within ~2 s.
TERM_GRACE_S = 5.0
# Readiness polling: servers answer in ~0.2 s, multiprocess in ~1 s on this class of machine.
READY_TIMEOUT_S = 20.0
READY_POLL_S = 0.05
HTTP_TIMEOUT_S = 5.0
# A port found free may be taken before the child binds it: this many tries (each rare).
PORT_ATTEMPTS = 3


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS reports free right now (the caller retries if it is taken meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


# The roles of a cell's processes: the server under test, the backend it calls (upstream
# server or database), the Locust master or single process, and a local Locust worker.
SERVER, BACKEND, LOCUST, LOCUST_WORKER = "server", "backend", "locust", "locust-worker"
ROLES = (SERVER, BACKEND, LOCUST, LOCUST_WORKER)


@dataclass
class Child:
    """One started process group."""

    name: str
    popen: subprocess.Popen[bytes]
    log: IO[bytes] | None = None
    pids_seen: set[int] = field(default_factory=set)
    # What it is to a cell (ROLES): how it is sampled and watched. "" means its name.
    role: str = ""
    index: int | None = None  # a local Locust worker's index

    # In a PID namespace of its own, under nsinit (harness/processes/containment.py).
    contained: bool = False

    def __post_init__(self) -> None:
        self.role = self.role or self.name

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def program_pid(self) -> int:
        """The pid of the program itself, the root of the tree its resources are sampled
        over: under nsinit, nsinit's child (nsinit and the namespace's init are not the
        program's, and cost a few MB of memory of their own)."""
        if self.contained:
            found = containment.app_pid(self.pid)
            if found is not None:
                return found
        return self.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace_s: float = TERM_GRACE_S) -> int | None:
        """SIGTERM the whole group, SIGKILL what is left after grace_s, reap the leader."""
        self._signal_group(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=grace_s)
        # Children of the leader (forked workers) may outlive it briefly: kill the group.
        deadline = time.monotonic() + grace_s
        while group_alive(self.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=grace_s)
        self._release()
        return self.popen.returncode

    def kill(self) -> None:
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=TERM_GRACE_S)
        self._release()

    def _release(self) -> None:
        if self.log is not None and not self.log.closed:
            self.log.close()

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)


def live(pids: set[int]) -> set[int]:
    """The pids among pids that still run (zombies count as gone)."""
    import psutil

    alive = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.add(pid)
        except psutil.NoSuchProcess:
            continue
    return alive


def group_members(pgid: int) -> set[int]:
    """Running processes whose process group is pgid."""
    import psutil

    found = set()
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                found.add(proc.pid)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return found


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False  # nothing left, not even a zombie: skip the scan
    except PermissionError:
        pass
    return bool(group_members(pgid))


def start(
    name: str,
    argv: Sequence[str],
    *,
    log_path: Path | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    cpus: set[int] | None = None,
    role: str = "",
    index: int | None = None,
    run_as: pwd.struct_passwd | None = None,
    contain: bool = False,
) -> Child:
    """Start argv in a new session; stdout and stderr go to log_path (or are discarded).
    `role` (default: the name) and `index` say what it is to a cell (Child.role). run_as:
    the unprivileged user it runs as (the harness being root). contain: in a PID namespace
    of its own, where one can be made (harness/processes/containment.py)."""
    log = open(log_path, "ab") if log_path is not None else None  # noqa: SIM115
    out: Any = log if log is not None else subprocess.DEVNULL
    contained = contain and containment.wanted()
    harness_pid, uid, gid = os.getpid(), os.getuid(), os.getgid()
    user = (run_as.pw_uid, run_as.pw_gid) if run_as is not None else None

    def preexec() -> None:
        # Runs in the child between fork and exec. The namespace is made while the child
        # still has the privilege to; the user changes next; the parent-death signal comes
        # after both (a change of credentials clears it): the child is SIGKILLed the moment
        # the harness exits, however it exits (README: no stray process, SIGKILL included).
        if contained:
            containment.unshare_pid(uid, gid)
        if run_as is not None and not contained:  # contained: nsinit changes the user
            os.setgroups([])
            os.setgid(run_as.pw_gid)
            os.setuid(run_as.pw_uid)
        die_with_parent(harness_pid)
        if cpus:
            os.sched_setaffinity(0, cpus)

    try:
        popen = subprocess.Popen(
            containment.wrap(list(argv), user) if contained else list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT if log is not None else subprocess.DEVNULL,
            start_new_session=True,
            env=env,
            cwd=cwd,
            preexec_fn=preexec,
        )
    except BaseException:
        if log is not None:
            log.close()
        raise
    return Child(name=name, popen=popen, log=log, role=role, index=index, contained=contained)


class NotYet(Exception):
    """A readiness probe's answer when the child is not ready yet: the message says why (the
    last one is in the timeout's reason)."""


def poll_until(probe: Callable[[], T], child: Child | None, timeout_s: float, what: str) -> T:
    """Call probe every READY_POLL_S until it returns instead of raising NotYet; its value.
    RuntimeError when the child exits first or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while True:
        if child is not None and not child.alive():
            raise RuntimeError(f"{child.name} exited with code {child.popen.returncode}")
        try:
            return probe()
        except NotYet as exc:
            last = str(exc)
        if time.monotonic() >= deadline:
            raise RuntimeError(f"{what} within {timeout_s:.0f} s ({last})")
        time.sleep(READY_POLL_S)


def start_on_free_port(
    start_at: Callable[[int], Child],
    ready: Callable[[Child, int], None],
    in_use: Callable[[Child], bool],
    *,
    host: str = "127.0.0.1",
    attempts: int = PORT_ATTEMPTS,
) -> tuple[Child, int]:
    """For a program that must be told its port: start it on a port found free, wait until
    it is ready, and try another port when it failed because that one was taken meanwhile
    (in_use, which reads the child's own words). The ready child and its port; RuntimeError
    (the last failure) otherwise, with every failed attempt stopped."""
    for attempt in range(attempts):
        port = free_port(host)
        child = start_at(port)
        try:
            ready(child, port)
            return child, port
        except RuntimeError:
            child.stop()
            if attempt + 1 == attempts or not in_use(child):
                raise
    raise AssertionError("unreachable: the last attempt raises")


def log_says_in_use(log_path: Path, words: str = "in use") -> Callable[[Child], bool]:
    """start_on_free_port's in_use for a child that says so in its log."""
    return lambda _child: words in logs.read(log_path)[-2000:]


def start_listening(
    name: str,
    argv_for: Callable[[Path], list[str]],
    *,
    timeout_s: float | None = None,
    **kwargs: Any,
) -> tuple[Child, int]:
    """For the project's own launcher (`python -m servers ... --port 0 --port-file F`): the
    kernel picks the port at the bind, and the launcher reports the one it got
    (record/announce.py), so no port can be taken meanwhile. The child and its port."""
    with tempfile.TemporaryDirectory(prefix="tornado-bench-port-") as folder:
        port_file = Path(folder) / "port.json"
        child = start(name, argv_for(port_file), **kwargs)

        def announced() -> int:
            port = read_port(port_file)
            if port is None:
                raise NotYet("no port reported yet")
            return port

        try:
            timeout = READY_TIMEOUT_S if timeout_s is None else timeout_s
            return child, poll_until(announced, child, timeout, f"{name} reported no port")
        except BaseException:
            child.stop()
            raise


def python_argv(*args: str) -> list[str]:
    return [sys.executable, *args]


def server_argv(
    config: ServerConfig, port_file: Path | None = None, python: Path | None = None
) -> list[str]:
    """The command line of a built-in server (catalog/server_config.py: the launcher reads
    the same options back), run by `python` (an environment's interpreter; default: this
    one's)."""
    return [str(python or sys.executable), "-m", "servers", *config.argv(port_file)]


def http_get(url: str, timeout: float = HTTP_TIMEOUT_S) -> tuple[int, dict[str, str], bytes]:
    """GET url; returns (status, headers, body) for any HTTP answer, raises OSError otherwise."""
    return http_request(url, "GET", timeout)


def http_request(
    url: str, method: str = "GET", timeout: float = HTTP_TIMEOUT_S
) -> tuple[int, dict[str, str], bytes]:
    """`method` url without a body; (status, headers, body) for any HTTP answer, raises
    OSError otherwise."""
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as err:
        body = err.read()
        return err.code, dict(err.headers.items()), body


def _poll_200(url: str, child: Child | None, timeout_s: float, parse: bool) -> Any:
    """Poll url until it answers 200 (with a JSON body when parse); the parsed body (or None).
    Raise RuntimeError when the child exits first or the deadline passes."""

    def answered() -> Any:
        try:
            status, _, body = http_get(url, timeout=1.0)
            if status != 200:
                raise NotYet(f"status {status}")
            return json.loads(body) if parse else None
        except (OSError, ValueError) as exc:
            raise NotYet(type(exc).__name__) from None

    return poll_until(answered, child, timeout_s, f"{url} did not answer 200")


def wait_ready(url: str, child: Child | None = None, timeout_s: float = READY_TIMEOUT_S) -> dict:
    """Poll url (a /health endpoint) until it answers 200 JSON; raise RuntimeError otherwise."""
    return _poll_200(url, child, timeout_s, parse=True)


@contextlib.contextmanager
def running(
    name: str,
    argv: Sequence[str],
    health_url: str,
    **kwargs: Any,
) -> Iterator[Child]:
    """Start, wait for readiness, yield, and always stop the group."""
    child = start(name, argv, **kwargs)
    try:
        wait_ready(health_url, child)
        yield child
    finally:
        child.stop()


def wait_answering(
    url: str,
    child: Child | None = None,
    timeout_s: float | None = None,
    *,
    method: str = "GET",
    statuses: Sequence[int] = (200,),
) -> None:
    """Poll url until it answers `method` with one of `statuses`, any body (a user's app: its
    health path may answer plain text or HTML, which wait_ready's JSON would refuse); raise
    RuntimeError otherwise. The deadline is READY_TIMEOUT_S, read at call time so that a test
    can patch it."""

    def answered() -> None:
        try:
            status, _, _ = http_request(url, method, timeout=1.0)
        except (OSError, http.client.HTTPException) as exc:
            raise NotYet(type(exc).__name__) from None
        if status not in statuses:
            raise NotYet(f"status {status}")

    codes = "/".join(str(s) for s in statuses)
    what = f"{url} did not answer {method} with {codes}"
    poll_until(answered, child, READY_TIMEOUT_S if timeout_s is None else timeout_s, what)


def wait_accepting(
    host: str, port: int, child: Child | None = None, timeout_s: float | None = None
) -> None:
    """Poll until host:port accepts a TCP connection (closed again at once): readiness for an
    app that answers no request with a status the harness could wait for."""

    def accepted() -> None:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError as exc:
            raise NotYet(type(exc).__name__) from None

    timeout = READY_TIMEOUT_S if timeout_s is None else timeout_s
    poll_until(accepted, child, timeout, f"{host}:{port} accepted no connection")


def wait_log_line(
    log_path: Path,
    pattern: str,
    child: Child | None = None,
    timeout_s: float | None = None,
    *,
    since: int = 0,
) -> None:
    """Poll the child's log from byte `since` (where this start's output begins in a log an
    earlier attempt wrote to) until a line matches `pattern` (a regex searched in each line):
    readiness for an app that says when it listens. Each look reads on from where the last
    ended (a line cut by the read is looked at again whole)."""
    regex = re.compile(pattern)
    seen = since

    def said() -> None:
        nonlocal seen
        try:
            with open(log_path, "rb") as f:
                f.seek(seen)
                text = f.read()
        except OSError:
            raise NotYet("no log yet") from None
        whole = text[: text.rfind(b"\n") + 1]
        seen += len(whole)
        lines = whole.decode("utf-8", "replace").splitlines()
        if any(regex.search(line) for line in lines):
            return
        raise NotYet(f"no line matching /{pattern}/ yet")

    timeout = READY_TIMEOUT_S if timeout_s is None else timeout_s
    poll_until(said, child, timeout, f"its log had no line matching /{pattern}/")


def descendants(pid: int) -> list[Any]:
    """Every process below pid right now (psutil.Process objects). A process that left the
    group (setsid, a daemonizing app) is not reached by a group signal, and once its parent
    is gone nothing links it to the cell any more: take this before stopping the group."""
    import psutil

    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.NoSuchProcess:
        return []


def kill_survivors(processes: list[Any]) -> set[int]:
    """SIGKILL those of `processes` still running after their group was stopped; the pids
    that still run afterwards. psutil checks each process's start time before it signals, so
    a pid the system has reused since is never touched."""
    import psutil

    alive = []
    for proc in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                proc.kill()
                alive.append(proc)
    _, still = psutil.wait_procs(alive, timeout=TERM_GRACE_S)
    return {p.pid for p in still}
