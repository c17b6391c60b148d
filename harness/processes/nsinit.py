"""`python -m harness.processes.nsinit -- ARGV`: ARGV in the PID namespace its parent made for it
(harness/processes/containment.py), with an init that ends everything in it.

This process stays outside the namespace (and keeps the user that started it: with
`--user UID:GID` only ARGV runs as that user, as the harness's interpreter may not be
readable by it); its first child becomes the namespace's init
(pid 1), the second runs ARGV (pid 2). The init only reaps, and dies with this process
(PR_SET_PDEATHSIG): when this process exits or is killed, the kernel kills every process of
the namespace, whatever forked it or left its group. This process dies with the harness
(procs.start sets that), forwards the stop signals to ARGV's process group, waits for ARGV
and for what ARGV's group still runs (bounded), and exits as ARGV did. Standard library only:
it starts in ~30 ms.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

from catalog.lifeline import die_with_parent

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
             signal.SIGUSR2)  # fmt: skip
# After ARGV exits, how long its group's other processes (forked workers) get to finish
# before the namespace ends them; the harness's own grace is 5 s per stop.
GROUP_GRACE_S = 4.0
GROUP_POLL_S = 0.02


def _init(parent: int) -> None:
    """The namespace's pid 1: out of every group the harness signals, reaping orphans until
    its parent (this process) dies."""
    os.setsid()
    die_with_parent(parent)
    for sig in FORWARDED:
        signal.signal(sig, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the pause below
    while True:
        try:
            os.wait()
        except ChildProcessError:
            signal.pause()
        except InterruptedError:
            continue


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def main(argv: list[str]) -> int:
    user: tuple[int, int] | None = None
    if argv[:1] == ["--user"] and len(argv) > 1:  # --user UID:GID, then --
        uid, gid = argv[1].split(":")
        user, argv = (int(uid), int(gid)), argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print(
            "usage: python -m harness.processes.nsinit [--user UID:GID] -- PROGRAM [ARG...]",
            file=sys.stderr,
        )
        return 2
    me = os.getpid()
    if os.fork() == 0:
        _init(me)
        os._exit(0)
    app = os.fork()
    if app == 0:
        os.setpgid(0, 0)  # its own group: a stop signal reaches it once, through us
        if user is not None:  # the program runs unprivileged; nsinit stays who started it
            os.setgroups([])
            os.setgid(user[1])
            os.setuid(user[0])
        try:
            os.execvp(argv[0], argv)
        except OSError as exc:
            print(f"error: cannot run {argv[0]}: {exc.strerror}", file=sys.stderr, flush=True)
        os._exit(127)
    for sig in FORWARDED:
        signal.signal(sig, lambda signum, _frame: _forward(app, signum))
    _, status = os.waitpid(app, 0)
    deadline = time.monotonic() + GROUP_GRACE_S
    while not _group_gone(app) and time.monotonic() < deadline:
        time.sleep(GROUP_POLL_S)
    if os.WIFSIGNALED(status):  # exit as ARGV did: the harness reads a signal as such
        died_of = os.WTERMSIG(status)
        signal.signal(died_of, signal.SIG_DFL)
        os.kill(me, died_of)
    return os.waitstatus_to_exitcode(status) if not os.WIFSIGNALED(status) else 128


def _forward(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
