"""A PID namespace per server, backend and database, so that the kernel ends a whole process
tree when the harness dies, however it dies (SIGKILL included).

PR_SET_PDEATHSIG (catalog/lifeline.py) ends the processes the harness starts, but it is not
inherited across fork: a user's app that forks its own workers (`fork_processes`, `start(0)`)
or daemonizes (double fork and `setsid`) leaves processes nothing links to the harness. A PID
namespace does: when a namespace's first process (its init) exits, the kernel SIGKILLs every
process in it (pid_namespaces(7)), and no process can leave its namespace.

A contained child is started as `python -m harness.processes.nsinit -- ARGV` after `unshare(2)` of a
new PID namespace (between fork and exec, see procs.start); nsinit forks the namespace's init
(which only reaps) and then ARGV (harness/processes/nsinit.py). As root that needs no more; an ordinary
user gets the same from a user namespace of its own, its uid mapped to itself. Where neither
works (user namespaces disabled, a seccomp filter), the child runs uncontained and a one-line
warning says what is lost.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
import sys
from pathlib import Path

import psutil

from catalog.paths import PROJECT_ROOT

CLONE_NEWUSER = 0x10000000  # <linux/sched.h>
CLONE_NEWPID = 0x20000000
# libc is looked up here, in the parent, never between fork and exec (see catalog/lifeline.py).
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
WARNING = (
    "warning: cannot give servers a PID namespace ({reason}); a process a server forks or "
    "daemonizes itself is stopped with the cell but may outlive a SIGKILLed harness"
)
_state: dict[str, str] = {}  # "probed" once tried; "reason" when no namespace can be made


def wanted() -> bool:
    """Whether to contain: on Linux, where the one probe of this process succeeded. The
    first call probes, and says on stderr (once) what is lost when it failed."""
    if "probed" not in _state:
        _state["probed"] = "yes"
        reason = probe()
        if reason is not None:
            refused(reason)
    return "reason" not in _state


def refused(reason: str) -> None:
    """A namespace could not be made: remember why, say it once on stderr."""
    if "reason" not in _state:
        _state["reason"] = reason
        print(WARNING.format(reason=reason), file=sys.stderr, flush=True)


def unavailable_reason() -> str | None:
    """Why servers run uncontained in this process (None: contained, or not tried yet)."""
    return _state.get("reason")


def unshare_pid(uid: int, gid: int) -> None:
    """In a child between fork and exec: what it forks from now on is in a new PID
    namespace. As root directly; otherwise inside a new user namespace that maps `uid` and
    `gid` (the caller's own) to themselves, so files and signals are unchanged. Raw
    syscalls and os calls only (this runs in a forked copy of a threaded process)."""
    assert _LIBC is not None
    flags = CLONE_NEWPID if os.geteuid() == 0 else CLONE_NEWPID | CLONE_NEWUSER
    if _LIBC.unshare(flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(CLONE_NEWPID): {os.strerror(err)}")
    if flags & CLONE_NEWUSER:
        _write("/proc/self/setgroups", "deny")  # required before an unprivileged gid_map
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


# Isolated (-I): neither the app's PYTHONPATH nor its working folder can shadow nsinit.
_NSINIT = (
    f"import sys; sys.path.insert(0, {str(PROJECT_ROOT)!r}); "
    "from harness.processes.nsinit import main; sys.exit(main(sys.argv[1:]))"
)


def wrap(argv: list[str], user: tuple[int, int] | None = None) -> list[str]:
    """The command line that runs argv under nsinit, in the namespace its preexec made;
    argv as user (uid, gid) when given."""
    as_user = ["--user", f"{user[0]}:{user[1]}"] if user is not None else []
    return [sys.executable, "-I", "-c", _NSINIT, *as_user, "--", *argv]


def probe() -> str | None:
    """Whether this machine lets this user make PID namespaces: None, or why not. Tried once
    per process, in a child (unshare changes the caller for good)."""
    if _LIBC is None:
        return "PID namespaces are Linux only"
    script = (
        f"import sys, os; sys.path.insert(0, {str(PROJECT_ROOT)!r})\n"
        "from harness.processes import containment\n"
        "try:\n"
        "    containment.unshare_pid(os.getuid(), os.getgid())\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        os._exit(0 if os.getpid() == 1 else 3)\n"
        "    sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n"
        "except OSError as exc:\n"
        "    print(exc.strerror or exc); sys.exit(2)\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    if done.returncode == 0:
        return None
    said = (done.stdout + done.stderr).strip().splitlines()
    return said[-1] if said else f"the namespace probe exited with code {done.returncode}"


def app_pid(nsinit_pid: int) -> int | None:
    """The (global) pid of the program nsinit started: nsinit's child that is not the
    namespace's init (whose pid inside is 1). None before it is forked."""
    try:
        children = psutil.Process(nsinit_pid).children()
    except psutil.Error:
        return None
    for child in children:
        if _pid_inside(child.pid) not in (1, None):
            return child.pid
    return None


def _pid_inside(pid: int) -> int | None:
    """The pid as its innermost namespace sees it (the last NSpid field)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    return None
