"""multiprocess: the sync handlers in N forked processes sharing one listening socket.
Each process still blocks on every wait; parallelism comes only from the process count.
The fork itself happens in servers.launch (bind_sockets -> fork_processes -> event loop)."""

from __future__ import annotations

from tornado import web

from servers import sync
from servers.config import ServerConfig


def make_app(config: ServerConfig) -> web.Application:
    return sync.make_app(config)
