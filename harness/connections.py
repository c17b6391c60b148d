"""Cells of the long-lived scenarios (ws-echo, ws-feed, poll): each user holds one connection,
so the cell's user count is its `connections`; they open at `spawn_rate` per second and the
measured window starts after that ramp. A suite asking for more connections than this
machine's limits allow is refused when it is read, with the numbers and the fix."""

from __future__ import annotations

import math
from pathlib import Path

from harness.scenarios import SCENARIOS
from record.cells import CellSpec
from servers.fdlimit import nofile_hard, raise_nofile

# The window starts this long after the ramp's last connection was due: the handshakes
# queued at the end of the ramp finish, and the first deliveries reach every connection.
RAMP_SLACK_S = 2.0
# Descriptors a process needs beside its connections (logs, pipes, sockets of its own).
FD_SLACK = 256
PORT_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def ramp_s(params: dict[str, int]) -> float:
    """How long the cell's connections take to open at its spawn rate."""
    return params["connections"] / params["spawn_rate"]


def warmup_s(params: dict[str, int], warmup: float) -> float:
    """The warm-up of a long-lived cell: the suite's, or the ramp and its slack if longer."""
    return max(warmup, math.ceil((ramp_s(params) + RAMP_SLACK_S) * 10) / 10)


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


def prepare() -> int:
    """Raise the harness's own open-file limit (servers and Locust inherit it); the limit."""
    return raise_nofile()


def live_warmup(cell: CellSpec, warmup: float) -> float:
    """The warm-up a cell runs with: a long-lived scenario's covers its ramp."""
    spec = SCENARIOS.get(cell.scenario)
    if spec is None or not spec.live:
        return warmup
    return warmup_s(cell.params, warmup)
