"""How many long-lived connections this machine can hold: a suite asking for more than the
open-file limit or the ephemeral port range allows is refused when it is read, with the
numbers and the fix, before anything starts."""

from __future__ import annotations

from pathlib import Path

from servers.fdlimit import nofile_hard

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


def limit_problem(connections: int, nofile: int | None = None, ports: int | None = None) -> str:
    """Why `connections` cannot be held here (one line with the numbers and the fix), or "".
    The server and the generator are separate processes and each holds every connection
    in the worst case (one server process, one Locust process)."""
    nofile = nofile_hard() if nofile is None else nofile
    ports = ephemeral_ports() if ports is None else ports
    if connections + FD_SLACK > nofile:
        return (
            f"{connections} connections need {connections + FD_SLACK} open files per process, "
            f"the hard limit here is {nofile}: raise it (ulimit -Hn, or nofile in "
            "/etc/security/limits.conf) or ask for fewer connections"
        )
    if connections > ports:
        return (
            f"{connections} connections from one address need as many local ports, the "
            f"ephemeral range here has {ports}: widen net.ipv4.ip_local_port_range or ask for "
            "fewer connections"
        )
    return ""
