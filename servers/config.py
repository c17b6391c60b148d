"""How a server hardens itself, beyond the bounds on a request's parameters (catalog/limits.py)
and its launch options (catalog/server_config.py): deadlines of upstream calls, the HTTP
server's timeouts and sizes."""

from __future__ import annotations

# Upstream calls: a per-call deadline of the requested delay plus this slack, so a slow or
# dead backend turns into a 504/502 quickly instead of a hung request.
UPSTREAM_SLACK_S = 2.0
UPSTREAM_CONNECT_TIMEOUT_S = 2.0
# AsyncHTTPClient queues requests beyond max_clients, and queue time counts against the
# deadline: size it for the largest fan-out under a few hundred users.
ASYNC_MAX_CLIENTS = 1000

# HTTP server hardening: requests here are tiny GETs (catalog/limits.py MAX_BODY_SIZE).
IDLE_CONNECTION_TIMEOUT_S = 30.0
BODY_TIMEOUT_S = 10.0
# Tornado's body_timeout bounds the whole body, not the gap between reads, so a server taking
# uploads adds the time the largest admitted body needs at this rate: slower on average than
# 2 MiB/s is a stalled client. 64 concurrent 16 MiB bodies then need 128 MiB/s in all,
# well within loopback on two cores; a fixed 10 s dropped every one of them on a busy machine.
UPLOAD_MIN_BYTES_PER_S = 2 * 1024 * 1024
MAX_HEADER_SIZE = 16 * 1024
