"""Server configuration and the bounds every variant enforces on its parameters."""

from __future__ import annotations

import os
from dataclasses import dataclass

from servers.variants import LOOPS, forks

DEFAULT_HOST = "127.0.0.1"
DEFAULT_THREADS = 8

# Bounds on request parameters. A request outside them is a 400: the server never waits
# or computes without limit because a client asked it to.
MS_MAX = 10_000  # /sleep, /upstream, /fanout: at most 10 s of simulated I/O per call
FANOUT_N_MAX = 64  # /fanout: at most 64 upstream calls per request
FANOUT_TOTAL_MS_MAX = 60_000  # /fanout: n*ms at most 60 s, so a sequential fan-out is bounded too
# One /cpu unit is one step of a pure-Python integer recurrence (about 0.2 µs here);
# 5,000,000 units cost well under a second of CPU on this class of machine.
CPU_N_MAX = 5_000_000

# Upstream calls: a per-call deadline of the requested delay plus this slack, so a slow or
# dead backend turns into a 504/502 quickly instead of a hung request.
UPSTREAM_SLACK_S = 2.0
UPSTREAM_CONNECT_TIMEOUT_S = 2.0
# AsyncHTTPClient queues requests beyond max_clients, and queue time counts against the
# deadline: size it for the largest fan-out under a few hundred users.
ASYNC_MAX_CLIENTS = 1000

# HTTP server hardening: requests here are tiny GETs.
IDLE_CONNECTION_TIMEOUT_S = 30.0
BODY_TIMEOUT_S = 10.0
MAX_BODY_SIZE = 64 * 1024
MAX_HEADER_SIZE = 16 * 1024


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """Everything a variant needs to build its application; validated when built."""

    variant: str
    host: str = DEFAULT_HOST
    port: int = 8888
    loop: str = "asyncio"
    processes: int = 0  # multiprocess only; 0 means one per CPU
    threads: int = DEFAULT_THREADS
    backend_url: str | None = None
    # Forking strategies only: each process binds its own SO_REUSEPORT socket, so the kernel
    # spreads connections across them, instead of every process accepting on one shared
    # socket (where one process can take every kept-alive connection).
    reuse_port: bool = False

    def __post_init__(self) -> None:
        if self.loop not in LOOPS:
            raise ValueError(f"loop must be one of {', '.join(LOOPS)}")
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be in 0..65535")
        if not 1 <= self.threads <= 256:
            raise ValueError("threads must be in 1..256")
        if not 0 <= self.processes <= 64:
            raise ValueError("processes must be in 0..64 (0 = one per CPU)")
        if self.backend_url is not None and not self.backend_url.startswith(
            ("http://", "https://")
        ):
            raise ValueError("backend-url must start with http:// or https://")

    @property
    def effective_processes(self) -> int:
        return self.processes or (os.cpu_count() or 1)

    @property
    def process_count(self) -> int:
        """Processes this server runs: the configured count if its strategy forks, else one."""
        return self.effective_processes if forks(self.variant) else 1
