"""Locust's own count of requests, kept for less. Locust's listener on every request logs it
twice (the total and the endpoint's entry), each time rounding its response time into a
dictionary of buckets, counting it in a dictionary of seconds and copying a cache of
percentiles every second: 8 µs a request on this machine, a tenth of the whole generator's
cost per `/hello` once the client was lean (loadgen/http_user.py). The project never reads
those: its percentiles come from its own exact records (record/stream.py). It reads Locust's
request count, to reconcile the records with (harness/outcome.py), and a worker's counts
reach its master in Locust's reports.

So the plugin swaps Locust's listener for this one, which keeps, per entry and in the total,
the counts of requests and failures (and Locust's errors table), the response times' sum,
minimum and maximum, and the bytes: what Locust's end-of-run summary and its CSV files show
but their percentiles, which read 0. Where Locust's listener is not where this Locust version
keeps it, nothing is swapped and Locust's full statistics stay.
"""

from __future__ import annotations

import time
from typing import Any

# Where Locust 2.x registers its statistics listener (locust/runners.py, Runner.__init__).
LOCUST_LISTENER = "Runner.__init__.<locals>.on_request"


class LeanStats:
    def __init__(self, stats: Any) -> None:
        self.stats = stats

    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        exception: Any = None,
        **_: Any,
    ) -> None:
        stats = self.stats
        now = time.time()
        length = response_length or 0
        for entry in (stats.total, stats.entries[(name, request_type)]):
            entry.num_requests += 1
            entry.last_request_timestamp = now
            if response_time is None:
                entry.num_none_requests += 1
            else:
                entry.total_response_time += response_time
                low = entry.min_response_time
                if low is None or response_time < low:
                    entry.min_response_time = response_time
                if response_time > entry.max_response_time:
                    entry.max_response_time = response_time
            entry.total_content_length += length
        if exception:
            stats.log_error(request_type, name, exception)


def install(environment: Any) -> bool:
    """Replace Locust's statistics listener with LeanStats; False (and nothing changed) where
    this Locust keeps it elsewhere."""
    hook = environment.events.request
    theirs = [h for h in hook._handlers if getattr(h, "__qualname__", "") == LOCUST_LISTENER]
    if len(theirs) != 1 or environment.runner is None:
        return False
    hook.remove_listener(theirs[0])
    hook.add_listener(LeanStats(environment.runner.stats).on_request)
    return True
