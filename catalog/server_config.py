"""The launch contract of a server: ``python -m servers VARIANT --port P ...``. One place holds
the options (ServerConfig, validated when built), the parser the launcher reads them with
(servers/launch.py) and the command line the harness writes them as (`argv`), so the two sides
cannot drift apart: `parse(config.argv())` gives the same config back."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from catalog.limits import (
    DB_POOL_MAX,
    DB_URL_SCHEMES,
    DEFAULT_DB_POOL,
    DEFAULT_HOST,
    DEFAULT_HTTP_CLIENT,
    DEFAULT_MAX_BACKLOG,
    DEFAULT_THREADS,
    DEFAULT_UPLOAD,
    HTTP_CLIENTS,
    MAX_BACKLOG_MAX,
    MAX_BODY_SIZE,
    POOL_PROCESSES_MAX,
    UPLOAD_BYTES_MAX,
    UPLOAD_MODES,
)
from catalog.strategies import BACKEND, LOOPS, VARIANT_NAMES, forks

DEFAULT_PORT = 8888


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """Everything a variant needs to build its application; validated when built."""

    variant: str  # a strategy of catalog/strategies.py, or the upstream backend
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    loop: str = LOOPS[0]
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
    http_client: str = DEFAULT_HTTP_CLIENT
    # processpool only: worker processes of its ProcessPoolExecutor; 0 means one per core
    # the server may run on.
    pool_processes: int = 0
    # /upload: how the body reaches the handler, and the largest body taken (413 above).
    upload: str = DEFAULT_UPLOAD
    max_upload_bytes: int = MAX_BODY_SIZE

    def __post_init__(self) -> None:
        if self.variant not in (*VARIANT_NAMES, BACKEND):
            raise ValueError(
                f"unknown variant {self.variant!r}; choose one of "
                f"{', '.join(VARIANT_NAMES)} or {BACKEND}"
            )
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
        if not 0 <= self.max_upload_bytes <= UPLOAD_BYTES_MAX:
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
        if self.reuse_port and not forks(self.variant):
            raise ValueError("--reuse-port is for a forking strategy (multiprocess) only")

    @property
    def effective_processes(self) -> int:
        return self.processes or (os.cpu_count() or 1)

    @property
    def process_count(self) -> int:
        """Processes this server runs: the configured count if its strategy forks, else one."""
        return self.effective_processes if forks(self.variant) else 1

    def argv(self, port_file: Path | None = None) -> list[str]:
        """The launcher's arguments for this config (after ``python -m servers``): every option
        that differs from its default, so a command line in cell.json says what was chosen."""
        out = [self.variant]
        for f in fields(self):
            if f.name == "variant":
                continue
            value = getattr(self, f.name)
            if value == f.default:
                continue
            flag = _FLAGS[f.name]
            if isinstance(value, bool):
                out.append(flag)
            else:
                out += [flag, str(value)]
        if port_file is not None:
            out += ["--port-file", str(port_file)]
        return out


# The flag of each field: its name with dashes.
_FLAGS = {f.name: "--" + f.name.replace("_", "-") for f in fields(ServerConfig)}


def build_parser() -> argparse.ArgumentParser:
    """The launcher's parser: one option per ServerConfig field, plus --port-file."""
    parser = argparse.ArgumentParser(
        prog="python -m servers",
        description="Run one tornado-bench server variant (or the upstream backend).",
    )
    add_options(parser)
    return parser


def add_options(parser: argparse.ArgumentParser) -> None:
    """The variant and every launch option, on a parser (the launcher's, or `run_bench.py
    serve`'s: the same options either way)."""
    parser.add_argument("variant", choices=[*VARIANT_NAMES, BACKEND], help="strategy to serve")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="TCP port (0 = any free port)"
    )
    parser.add_argument(
        "--port-file",
        type=Path,
        default=None,
        help="once bound, write the port (and pid) here as JSON: with --port 0, how the "
        "starter learns the port the kernel picked (record/announce.py)",
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="address to bind (default %(default)s)"
    )
    parser.add_argument("--loop", choices=LOOPS, default=LOOPS[0], help="event loop")
    parser.add_argument(
        "--processes", type=int, default=0, help="multiprocess: process count (0 = one per CPU)"
    )
    parser.add_argument(
        "--threads", type=int, default=DEFAULT_THREADS, help="threadpool: executor size"
    )
    parser.add_argument(
        "--pool-processes",
        type=int,
        default=0,
        help="processpool: worker processes of its ProcessPoolExecutor (0 = one per core the "
        "server may run on)",
    )
    parser.add_argument(
        "--upload",
        choices=UPLOAD_MODES,
        default=DEFAULT_UPLOAD,
        help="POST /upload: buffered (Tornado reads the whole body, then the handler runs) or "
        "streamed (@stream_request_body: the handler hashes each chunk as it arrives)",
    )
    parser.add_argument(
        "--max-upload-bytes",
        type=int,
        default=MAX_BODY_SIZE,
        help="POST /upload: the largest body taken, a 413 above (default %(default)s, at most "
        f"{UPLOAD_BYTES_MAX})",
    )
    parser.add_argument(
        "--backend-url", default=None, help="base URL of the upstream backend (http://host:port)"
    )
    parser.add_argument(
        "--db-url", default=None, help="/db: the PostgreSQL database (postgresql://...)"
    )
    parser.add_argument(
        "--db-pool",
        type=int,
        default=DEFAULT_DB_POOL,
        help="/db: connections of the awaiting strategies' pool (default %(default)s; "
        "threadpool has one per thread, the others one per process)",
    )
    parser.add_argument(
        "--reuse-port",
        action="store_true",
        help="multiprocess: each process binds its own SO_REUSEPORT socket (the kernel spreads "
        "connections) instead of all accepting on one shared socket",
    )
    parser.add_argument(
        "--max-backlog",
        type=int,
        default=DEFAULT_MAX_BACKLOG,
        help="/enqueue: background jobs pending (queued + in progress) past which a new one "
        "is a 503 (default %(default)s)",
    )
    parser.add_argument(
        "--http-client",
        choices=HTTP_CLIENTS,
        default=DEFAULT_HTTP_CLIENT,
        help="upstream client of the awaiting strategies: simple (a connection per call) or "
        "curl (pycurl; connections kept alive)",
    )


def from_args(args: argparse.Namespace) -> tuple[ServerConfig, Path | None]:
    """The config and the port file of parsed options (add_options). A ServerConfig that
    refuses a value raises ValueError."""
    values = {f.name: getattr(args, f.name) for f in fields(ServerConfig)}
    return ServerConfig(**values), args.port_file


def parse(argv: Sequence[str] | None = None) -> tuple[ServerConfig, Path | None]:
    """The config and the port file a command line asks for. argparse exits on a malformed
    line (with its usage)."""
    return from_args(build_parser().parse_args(argv))
