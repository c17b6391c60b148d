"""The bounds every server enforces on a request's parameters, and the choices a suite or the
launcher may make, each said once. A request outside a bound is a 400: a server never waits or
computes without limit because a client asked it to; a suite outside one is refused before
anything starts (harness/suite/), naming the same bound."""

from __future__ import annotations

DEFAULT_HOST = "127.0.0.1"
DEFAULT_THREADS = 8

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
# The default is left out of a cell's id, so the ids of older cells are unchanged.
HTTP_CLIENTS = ("simple", "curl")
DEFAULT_HTTP_CLIENT = HTTP_CLIENTS[0]
PYCURL_HINT = "pip install pycurl==7.49.0 (a source build needs libcurl4-openssl-dev)"


def pycurl_importable() -> bool:
    """The one probe for the curl client: can pycurl (a C extension) be imported here?"""
    try:
        import pycurl  # noqa: F401
    except ImportError:
        return False
    return True


# /db: the PostgreSQL database the server connects to at start, and the connections of the
# awaiting strategies' pool (the others: one per process or per thread). The pool's size
# when a suite does not say (the server's --db-pool).
DB_URL_SCHEMES = ("postgresql://", "postgres://")
DB_POOL_MAX = 64
DEFAULT_DB_POOL = 10
# processpool: worker processes at most; each is a whole interpreter (some 20 MB of memory).
POOL_PROCESSES_MAX = 64

# Requests here are tiny GETs: a body above this is refused, unless the server takes uploads.
MAX_BODY_SIZE = 64 * 1024
# POST /upload (servers/upload.py): the body read whole by Tornado before the handler runs
# (buffered, self.request.body) or handed to the handler chunk by chunk as it arrives
# (streamed, @stream_request_body). A server takes bodies up to --max-upload-bytes (413
# above), at most UPLOAD_BYTES_MAX: 64 concurrent buffered uploads of that size are 4 GiB.
UPLOAD_MODES = ("buffered", "streamed")
DEFAULT_UPLOAD = UPLOAD_MODES[0]
UPLOAD_BYTES_MAX = 64 * 1024 * 1024

# Open loop (loadgen/pacing.py): intended send times evenly spaced, or drawn as a Poisson
# process (exponential gaps) of the same mean rate.
ARRIVALS = ("constant", "poisson")
DEFAULT_ARRIVALS = ARRIVALS[0]
