"""The one launcher: ``python -m servers VARIANT --port P ...``.

Sockets are bound before anything else, so a port in use is reported at once. The
multiprocess variant forks after binding and before any event loop exists; its parent
forwards SIGTERM/SIGINT to the children and exits when they have.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.process import fork_processes

from catalog.fdlimit import raise_nofile
from catalog.lifeline import die_with_parent
from catalog.limits import PYCURL_HINT, pycurl_importable
from catalog.server_config import ServerConfig, parse
from catalog.strategies import forks
from record import announce
from servers.config import ASYNC_MAX_CLIENTS, IDLE_CONNECTION_TIMEOUT_S, MAX_HEADER_SIZE
from servers.handlers import release
from servers.registry import make_app
from servers.upload import server_body_limit, server_body_timeout

# After SIGTERM a process gets this long to finish in-flight requests; a handler blocked in
# a long sleep cannot reach the event loop, so a watchdog thread ends the process then.
SHUTDOWN_GRACE_S = 2.0
# The multiprocess parent kills children that outlive the grace period by this much.
CHILD_KILL_AFTER_S = SHUTDOWN_GRACE_S + 1.5
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# The AsyncHTTPClient implementation behind each --http-client choice (None: Tornado's default,
# simple_httpclient, which opens a new connection for every call).
ASYNC_CLIENT_IMPL = {"simple": None, "curl": "tornado.curl_httpclient.CurlAsyncHTTPClient"}


def http_client_problem(name: str) -> str | None:
    """Why the chosen upstream client cannot run here (one line), or None."""
    if name != "curl":
        return None
    if not pycurl_importable():
        return f"--http-client curl needs pycurl, which cannot be imported: {PYCURL_HINT}"
    return None


def _exit_after(seconds: float) -> None:
    timer = threading.Timer(seconds, os._exit, args=(0,))
    timer.daemon = True
    timer.start()


async def _serve(config: ServerConfig, sockets: list[socket.socket]) -> None:
    AsyncHTTPClient.configure(ASYNC_CLIENT_IMPL[config.http_client], max_clients=ASYNC_MAX_CLIENTS)
    app = make_app(config)
    server = HTTPServer(
        app,
        idle_connection_timeout=IDLE_CONNECTION_TIMEOUT_S,
        body_timeout=server_body_timeout(config),
        max_body_size=server_body_limit(config),
        max_header_size=MAX_HEADER_SIZE,
    )
    server.add_sockets(sockets)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # A plain signal handler (not loop.add_signal_handler) runs even while a sync
        # handler blocks the loop; the watchdog bounds how long that can delay exit.
        _exit_after(SHUTDOWN_GRACE_S)
        loop.call_soon_threadsafe(stop.set)

    for sig in STOP_SIGNALS:
        signal.signal(sig, on_signal)
    await stop.wait()
    server.stop()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(server.close_all_connections(), SHUTDOWN_GRACE_S)
    release(app)


def _run_loop(config: ServerConfig, sockets: list[socket.socket]) -> None:
    if config.loop == "uvloop":
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    else:
        runner = asyncio.Runner()
    with runner:
        runner.run(_serve(config, sockets))


def _fork_workers(n: int) -> None:
    """Fork n workers; returns only in a worker. The parent stays in fork_processes."""
    import psutil

    parent_pid = os.getpid()
    stopping = threading.Event()

    def forward(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != parent_pid:
            raise SystemExit(0)  # a worker stopped before it installed its own handler
        stopping.set()
        children = psutil.Process(parent_pid).children()
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.send_signal(signum)

        def kill_stragglers() -> None:
            for child in children:
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
            os._exit(0)

        timer = threading.Timer(CHILD_KILL_AFTER_S, kill_stragglers)
        timer.daemon = True
        timer.start()

    for sig in STOP_SIGNALS:
        signal.signal(sig, forward)
    fork_processes(n, max_restarts=10)
    if stopping.is_set():  # restarted by fork_processes while the parent was stopping
        raise SystemExit(0)
    # A worker dies with the parent that forked it, even when the parent is SIGKILLed and
    # cannot forward anything (catalog/lifeline.py).
    die_with_parent(parent_pid)


def _reserve_port(host: str, port: int) -> socket.socket:
    """Bind (without listening) an SO_REUSEPORT socket: it holds the port for the forked
    processes' own sockets, and the kernel routes no connection to a socket that does not
    listen."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock


def serve(config: ServerConfig, port_file: Path | None = None) -> int:
    raise_nofile()  # a long-lived connection is a descriptor: take all the kernel allows
    # With reuse_port, the parent only reserves the port; each forked process binds its own
    # SO_REUSEPORT socket after the fork.
    reuse = config.reuse_port
    try:
        sockets = (
            [_reserve_port(config.host, config.port)]
            if reuse
            else bind_sockets(config.port, config.host)
        )
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(f"error: cannot listen on {config.host}:{config.port}: {reason}", file=sys.stderr)
        return 1
    port = sockets[0].getsockname()[1]
    if port_file is not None:
        announce.write(port_file, announce.Announcement(port=port, pid=os.getpid()))
    print(
        f"{config.variant} listening on http://{config.host}:{port} loop={config.loop} "
        f"processes={config.process_count}{' reuse_port=yes' if reuse else ''} "
        f"http_client={config.http_client} pid={os.getpid()}",
        flush=True,
    )
    if forks(config.variant):
        _fork_workers(config.process_count)
    if reuse:
        sockets[0].close()  # in a worker: the parent's reservation is not this process's socket
        sockets = bind_sockets(port, config.host, reuse_port=True)
    _run_loop(config, sockets)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config, port_file = parse(argv)
        problem = http_client_problem(config.http_client)
        if problem is not None:
            raise ValueError(problem)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return serve(config, port_file)
