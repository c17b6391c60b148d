"""How many long-lived connections this machine can hold: a suite asking for more than the
open-file limit or the ephemeral port range allows is refused when it is read, with the
numbers and the fix, before anything starts."""

from __future__ import annotations

from pathlib import Path

from catalog import workloads
from catalog.fdlimit import LOOPBACK_SOURCES, nofile_hard

# Descriptors a process needs beside its connections (logs, pipes, sockets of its own).
FD_SLACK = 256
PORT_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def ephemeral_ports(path: Path = PORT_RANGE) -> int:
    """Local ports the kernel hands out for outgoing connections (one per connection from one
    source address to one server address)."""
    try:
        lo, hi = (int(x) for x in path.read_text().split())
    except (OSError, ValueError):
        return 28232  # Linux's default range, 32768..60999
    return hi - lo + 1


def limit_problem(
    connections: int,
    nofile: int | None = None,
    ports: int | None = None,
    sources: int = 1,
) -> str:
    """Why `connections` cannot be held here (one line with the numbers and the fix), or "".
    The server and the generator are separate processes and each holds every connection
    in the worst case (one server process, one Locust process). `sources`: the source
    addresses the client spreads its connections over (each has the whole port range)."""
    nofile = nofile_hard() if nofile is None else nofile
    ports = ephemeral_ports() if ports is None else ports
    if connections + FD_SLACK > nofile:
        return (
            f"{connections} connections need {connections + FD_SLACK} open files per process, "
            f"the hard limit here is {nofile}: raise it (ulimit -Hn, or nofile in "
            "/etc/security/limits.conf) or ask for fewer connections"
        )
    if connections > ports * sources:
        spread = f" from each of {sources} addresses" if sources > 1 else ""
        return (
            f"{connections} connections from {sources} address{'es' if sources > 1 else ''} "
            f"need as many local ports, the ephemeral range here has {ports}{spread}: widen "
            "net.ipv4.ip_local_port_range or ask for fewer connections"
        )
    return ""


def sources_for(live: str) -> int:
    """The source addresses a long-lived workload's client spreads its connections over:
    a WebSocket client's, LOOPBACK_SOURCES (loadgen/websocket_user.py); a long-poll's HTTP
    client, one."""
    return LOOPBACK_SOURCES if live in (workloads.LIVE_FEED, workloads.LIVE_ECHO) else 1
