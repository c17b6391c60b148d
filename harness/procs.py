"""Child processes the harness owns: each in its own session (so its whole process group can
be signalled), stopped by group, always reaped. Nothing here is ever found by name."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from servers.lifeline import die_with_parent

# How long a stopped group gets between SIGTERM and SIGKILL; servers stop within ~2 s.
TERM_GRACE_S = 5.0
# Readiness polling: servers answer in ~0.2 s, multiprocess in ~1 s on this class of machine.
READY_TIMEOUT_S = 20.0
READY_POLL_S = 0.05
HTTP_TIMEOUT_S = 5.0


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

    def __post_init__(self) -> None:
        self.role = self.role or self.name

    @property
    def pid(self) -> int:
        return self.popen.pid

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
        if self.log is not None:
            self.log.close()
        return self.popen.returncode

    def kill(self) -> None:
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=TERM_GRACE_S)
        if self.log is not None:
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
) -> Child:
    """Start argv in a new session; stdout and stderr go to log_path (or are discarded).
    `role` (default: the name) and `index` say what it is to a cell (Child.role)."""
    log = open(log_path, "ab") if log_path is not None else None  # noqa: SIM115
    out: Any = log if log is not None else subprocess.DEVNULL

    harness_pid = os.getpid()

    def preexec() -> None:
        # Runs in the child between fork and exec: the child is SIGKILLed the moment the
        # harness exits, however it exits (DESIGN.md: no stray process, SIGKILL included).
        die_with_parent(harness_pid)
        if cpus:
            os.sched_setaffinity(0, cpus)

    popen = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT if log is not None else subprocess.DEVNULL,
        start_new_session=True,
        env=env,
        cwd=cwd,
        preexec_fn=preexec,
    )
    return Child(name=name, popen=popen, log=log, role=role, index=index)


def python_argv(*args: str) -> list[str]:
    return [sys.executable, *args]


def server_argv(
    variant: str,
    port: int,
    *,
    host: str = "127.0.0.1",
    loop: str = "asyncio",
    processes: int | None = None,
    threads: int | None = None,
    backend_url: str | None = None,
    reuse_port: bool = False,
    http_client: str | None = None,
    max_backlog: int | None = None,
    pool_processes: int | None = None,
    upload: str | None = None,
    max_upload_bytes: int | None = None,
) -> list[str]:
    argv = python_argv("-m", "servers", variant, "--port", str(port), "--host", host)
    argv += ["--loop", loop]
    if processes is not None:
        argv += ["--processes", str(processes)]
    if threads is not None:
        argv += ["--threads", str(threads)]
    if backend_url is not None:
        argv += ["--backend-url", backend_url]
    if reuse_port:
        argv.append("--reuse-port")
    if http_client is not None:
        argv += ["--http-client", http_client]
    if max_backlog is not None:
        argv += ["--max-backlog", str(max_backlog)]
    if pool_processes is not None:
        argv += ["--pool-processes", str(pool_processes)]
    if upload is not None:
        argv += ["--upload", upload]
    if max_upload_bytes is not None:
        argv += ["--max-upload-bytes", str(max_upload_bytes)]
    return argv


def http_get(url: str, timeout: float = HTTP_TIMEOUT_S) -> tuple[int, dict[str, str], bytes]:
    """GET url; returns (status, headers, body) for any HTTP answer, raises OSError otherwise."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as err:
        body = err.read()
        return err.code, dict(err.headers.items()), body


def _poll_200(url: str, child: Child | None, timeout_s: float, parse: bool) -> Any:
    """Poll url until it answers 200 (with a JSON body when parse); the parsed body (or None).
    Raise RuntimeError when the child exits first or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if child is not None and not child.alive():
            raise RuntimeError(f"{child.name} exited with code {child.popen.returncode}")
        try:
            status, _, body = http_get(url, timeout=1.0)
            if status == 200:
                return json.loads(body) if parse else None
            last = f"status {status}"
        except (OSError, ValueError) as exc:
            last = type(exc).__name__
        time.sleep(READY_POLL_S)
    raise RuntimeError(f"{url} did not answer 200 within {timeout_s:.0f} s ({last})")


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


def wait_answering(url: str, child: Child | None = None, timeout_s: float | None = None) -> None:
    """Poll url until it answers 200 with any body (a user's app: its health path may answer
    plain text or HTML, which wait_ready's JSON would refuse); raise RuntimeError otherwise.
    The deadline is READY_TIMEOUT_S, read at call time so that a test can patch it."""
    _poll_200(url, child, READY_TIMEOUT_S if timeout_s is None else timeout_s, parse=False)


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
