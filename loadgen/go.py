"""The start gate: the harness starts Locust while it still verifies the servers, so that
Locust's imports (about half a second a process, more for a master and its workers sharing
the generator's core) overlap verification instead of adding to every cell. The load starts
only once the harness creates the go file (--bench-go-file); without one it starts at once."""

from __future__ import annotations

import logging
import os
import time

import gevent

from record.schema import GO_WAIT_S  # past it the harness is gone or stuck

log = logging.getLogger("tornado-bench")
# How often the gate looks for the file: a few milliseconds added to the start at most.
POLL_S = 0.005


def wait_for_go(path: str, wait_s: float = GO_WAIT_S) -> None:
    """Return once `path` exists ("" returns at once); exit after wait_s seconds without it.
    Cooperative (gevent.sleep): a master goes on admitting its workers meanwhile."""
    if not path:
        return
    deadline = time.monotonic() + wait_s
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            log.error("no go from the harness within %.0f s (%s): not loading", wait_s, path)
            raise SystemExit(1)
        gevent.sleep(POLL_S)
