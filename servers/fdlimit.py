"""Open-file limits for long-lived connections: every connection is a file descriptor in the
server and another in the load generator, so each process raises its soft RLIMIT_NOFILE to
the hard limit (the most it may without privileges) before it opens any."""

from __future__ import annotations

import resource


def raise_nofile() -> int:
    """Raise this process's soft open-file limit to its hard limit; the soft limit now (its
    children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft  # a limit the kernel will not give (nr_open): keep the old one
        return target
    return soft


def nofile_hard() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]
