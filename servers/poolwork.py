"""What runs inside the processpool strategy's worker processes, and nothing else.

A worker is started with the ``spawn`` method (a fresh interpreter, not a fork of a server
that already runs an event loop and holds the listening socket), so it imports only this
module: the standard library, servers.work and servers.lifeline, no Tornado. Every function
here is called by reference from the server (pickled by name) with small picklable
arguments, and returns a small picklable result: that round trip is the per-request cost
the strategy pays on top of the work itself.

Each worker keeps its own blocking upstream client and, with a database, its own blocking
connection, opened once in ``start_worker`` (like a multiprocess worker's, one per process).
"""

from __future__ import annotations

import os
import signal
from typing import Any

from catalog.lifeline import die_with_parent
from catalog.payloads import cpu_work
from servers.upstream import BlockingUpstream
from servers.work import Job, blocking_sleep

# How long the workers wait for each other at start (every one must be up before the server
# answers its first request); far above a spawn's cost even on a loaded machine.
WARM_TIMEOUT_S = 60.0


class _Worker:
    """The per-process state a worker builds once (set by start_worker)."""

    upstream: BlockingUpstream | None = None
    db: Any = None


def start_worker(
    server_pid: int, barrier: Any, backend_url: str | None, db_url: str | None
) -> None:
    """The pool's initializer, once per worker process: die with the server whatever kills it
    (catalog/lifeline.py), leave Ctrl-C to the server (which stops the pool itself), open
    this process's clients, then wait until every worker of the pool has got this far, so
    that the warm-up in the server returns only when the whole pool is up."""
    die_with_parent(server_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _Worker.upstream = BlockingUpstream(backend_url)
    if db_url is not None:
        from servers.dbqueries import BlockingConnection

        _Worker.db = BlockingConnection(db_url)
    if barrier is not None:
        barrier.wait(WARM_TIMEOUT_S)


def ready() -> int:
    """The warm-up job: the worker's pid."""
    return os.getpid()


def cpu(n: int) -> tuple[int, int]:
    """/cpu: the result and the pid of the worker that computed it."""
    return cpu_work(n), os.getpid()


def sleep(ms: int) -> int:
    """A blocking wait in a worker; its pid."""
    blocking_sleep(ms)
    return os.getpid()


def upstream(ms: int, call_id: int) -> dict[str, Any]:
    assert _Worker.upstream is not None, "start_worker did not run"
    return _Worker.upstream.call(ms, call_id)


def fanout(n: int, ms: int) -> list[dict[str, Any]]:
    """The sequential fan-out as one job: it holds one worker for n*ms."""
    assert _Worker.upstream is not None, "start_worker did not run"
    return _Worker.upstream.fanout(n, ms)


def job(ms: int | None, n: int | None) -> None:
    """An /enqueue job (a wait or CPU work), blocking this worker until it is done."""
    Job(0, ms=ms, n=n).run_blocking()


def te(kind: str, n: int) -> Any:
    """One TechEmpower database type (servers/dbqueries.py: te_blocking) on this worker's
    connection."""
    from servers.dbqueries import DbUnavailable, te_blocking

    if _Worker.db is None:
        raise DbUnavailable("database unavailable: the pool worker has no connection")
    return _Worker.db.call(te_blocking, kind, n)


def db(query: str, ms: int, n: int) -> dict[str, Any]:
    from servers.dbqueries import DbUnavailable

    if _Worker.db is None:
        raise DbUnavailable("database unavailable: the pool worker has no connection")
    result: dict[str, Any] = _Worker.db.run(query, ms, n)
    return result
