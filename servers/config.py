"""Server configuration and the bounds every variant enforces on its parameters."""

from __future__ import annotations

import os
from dataclasses import dataclass

from servers.variants import LOOPS, forks
from servers.workloads import DEFAULT_DB_POOL

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

# /enqueue: jobs accepted and not yet done (queued + in progress) are the backlog. Past
# max_backlog a new job is a 503, so a flood of fire-and-forget requests cannot grow the
# server's memory without bound.
DEFAULT_MAX_BACKLOG = 10_000
MAX_BACKLOG_MAX = 1_000_000

# /stream?chunks=K&bytes=B&ms=D: K chunks of B bytes, D ms apart. K*B is capped, so a
# blocking strategy that buffers a whole response (the socket full, the IOLoop asleep) holds
# at most STREAM_TOTAL_BYTES_MAX; the waits together are capped like a sequential fan-out.
STREAM_CHUNKS_MAX = 1000
STREAM_CHUNK_BYTES_MAX = 1024 * 1024
STREAM_TOTAL_BYTES_MAX = 16 * 1024 * 1024
STREAM_TOTAL_MS_MAX = 60_000  # (K-1)*D

# Upstream HTTP client of the awaiting strategies: Tornado's simple_httpclient (a new
# connection per call) or curl_httpclient (pycurl; keeps connections to the backend alive).
HTTP_CLIENTS = ("simple", "curl")
PYCURL_HINT = "pip install pycurl==7.49.0 (a source build needs libcurl4-openssl-dev)"


def pycurl_importable() -> bool:
    """The one probe for the curl client: can pycurl (a C extension) be imported here?"""
    try:
        import pycurl  # noqa: F401
    except ImportError:
        return False
    return True


# /db (servers/db.py): the PostgreSQL database the server connects to at start, and the
# connections of the awaiting strategies' pool (the others: one per process or per thread).
DB_URL_SCHEMES = ("postgresql://", "postgres://")
DB_POOL_MAX = 64
# processpool: worker processes at most; each is a whole interpreter (some 20 MB of memory).
POOL_PROCESSES_MAX = 64

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

# POST /upload (servers/upload.py): the body read whole by Tornado before the handler runs
# (buffered, self.request.body) or handed to the handler chunk by chunk as it arrives
# (streamed, @stream_request_body). A server takes bodies up to --max-upload-bytes (413
# above), at most UPLOAD_BYTES_MAX: 64 concurrent buffered uploads of that size are 4 GiB.
UPLOAD_MODES = ("buffered", "streamed")
UPLOAD_BYTES_MAX = 64 * 1024 * 1024
# Tornado's body_timeout bounds the whole body, not the gap between reads, so a server taking
# uploads adds the time the largest admitted body needs at this rate: slower on average than
# 2 MiB/s is a stalled client. 64 concurrent 16 MiB bodies then need 128 MiB/s in all,
# well within loopback on two cores; a fixed 10 s dropped every one of them on a busy machine.
UPLOAD_MIN_BYTES_PER_S = 2 * 1024 * 1024
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
    # /db: postgresql:// URL of the database, and the awaiting strategies' pool size.
    db_url: str | None = None
    db_pool: int = DEFAULT_DB_POOL
    # /enqueue: accepted jobs not yet done, past which new ones are a 503.
    max_backlog: int = DEFAULT_MAX_BACKLOG
    # Upstream client of the awaiting strategies (the blocking ones keep their own
    # http.client connection per thread whatever this says).
    http_client: str = "simple"
    # processpool only: worker processes of its ProcessPoolExecutor; 0 means one per core
    # the server may run on.
    pool_processes: int = 0
    # /upload: how the body reaches the handler, and the largest body taken (413 above).
    upload: str = "buffered"
    upload_max_bytes: int = MAX_BODY_SIZE

    def __post_init__(self) -> None:
        if self.loop not in LOOPS:
            raise ValueError(f"loop must be one of {', '.join(LOOPS)}")
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be in 0..65535")
        if not 1 <= self.threads <= 256:
            raise ValueError("threads must be in 1..256")
        if not 0 <= self.processes <= 64:
            raise ValueError("processes must be in 0..64 (0 = one per CPU)")
        if not 0 <= self.pool_processes <= POOL_PROCESSES_MAX:
            raise ValueError(
                f"pool-processes must be in 0..{POOL_PROCESSES_MAX} (0 = one per core)"
            )
        if self.upload not in UPLOAD_MODES:
            raise ValueError(f"upload must be one of {', '.join(UPLOAD_MODES)}")
        if not 0 <= self.upload_max_bytes <= UPLOAD_BYTES_MAX:
            raise ValueError(f"max-upload-bytes must be in 0..{UPLOAD_BYTES_MAX}")
        if not 1 <= self.db_pool <= DB_POOL_MAX:
            raise ValueError(f"db-pool must be in 1..{DB_POOL_MAX}")
        if self.db_url is not None and not self.db_url.startswith(DB_URL_SCHEMES):
            raise ValueError("db-url must start with postgresql://")
        if not 1 <= self.max_backlog <= MAX_BACKLOG_MAX:
            raise ValueError(f"max-backlog must be in 1..{MAX_BACKLOG_MAX}")
        if self.http_client not in HTTP_CLIENTS:
            raise ValueError(f"http-client must be one of {', '.join(HTTP_CLIENTS)}")
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
