"""How many long-lived connections one machine can hold. Every connection is a file
descriptor in the server and another in the load generator, so each process raises its soft
RLIMIT_NOFILE to the hard limit (the most it may without privileges) before it opens any.
And every connection from one source address to one server address takes a local port of
the ephemeral range (about 28,000), so a WebSocket client spreads its connections to a
loopback server over several loopback source addresses (127.0.0.0/8 is all loopback)."""

from __future__ import annotations

import ipaddress
import resource

# Loopback source addresses a WebSocket client uses, 127.0.0.1 .. 127.0.0.16: 16 times the
# ephemeral range (about 450,000 connections), far past any open-file limit here.
LOOPBACK_SOURCES = 16


def loopback_source(host: str, k: int) -> str | None:
    """The source address of a client's k-th connection to `host`: one of LOOPBACK_SOURCES
    loopback addresses, in turn, when the server is on IPv4 loopback; None (the kernel
    chooses) otherwise."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.version != 4 or not address.is_loopback:
        return None
    return f"127.0.0.{1 + k % LOOPBACK_SOURCES}"


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
