"""Children die with their parent, whatever killed the parent (SIGKILL and the OOM killer
included): the kernel sends the child a signal the moment its parent exits (Linux
prctl(PR_SET_PDEATHSIG), see prctl(2)). No polling, and nothing the parent must still do.

Used by the harness for every process it starts, by a forking server for its workers and by
Locust workers for their master. Standard library only, so every side can import it."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# libc is looked up here, in the parent, not in the child between fork and exec: a lookup
# (dlopen) there can deadlock when the parent had other threads running at the fork.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def die_with_parent(parent_pid: int, sig: int = signal.SIGKILL) -> None:
    """From now on, `sig` is delivered to this process when its parent exits. `parent_pid` is
    the parent this process expects: if that parent is already gone (it died between our fork
    and this call, and we were re-parented), the signal is raised at once."""
    if _LIBC is None:
        return  # no such kernel promise elsewhere; the parent's own cleanup still applies
    if _LIBC.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_PDEATHSIG): {os.strerror(err)}")
    # getppid() is 0 when the parent is alive outside this process's PID namespace (a server
    # whose children the harness contains, harness/processes/containment.py): still the parent.
    if os.getppid() not in (parent_pid, 0):
        os.kill(os.getpid(), sig)
