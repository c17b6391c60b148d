"""The per-request recorder: every request Locust reports becomes a row of typed columns, and
every second (or every FLUSH_ROWS rows) the rows leave as one batch (record/stream.py) for a
sink: the cell's Parquet writer in this process, or the master through Locust's message API
(loadgen/master.py). Memory stays at one batch whatever the cell's length.

A Locust process never decides which rows count: the writer applies the window rule once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from loadgen.pacing import INTENDED, OpenLoop
from record.stream import encode_batch, new_columns

# A batch leaves after this long or this many rows, whichever comes first.
FLUSH_S = 1.0
FLUSH_ROWS = 20_000
TTFB = "ttfb_ms"  # the request context key a scenario sets when it measures the first byte

Sink = Callable[[dict[str, Any]], None]


class Recorder:
    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.columns = new_columns()
        # (request type, name) → the index a row carries; a name sent two ways has two.
        self.endpoints: dict[tuple[str, str], int] = {}
        self.t0: float | None = None
        self.recorded = 0  # answered requests recorded since the test started
        self.closed = False
        self.loop: OpenLoop | None = None  # open loop: told which slots got their answer

    def on_test_start(self, **_: Any) -> None:
        self.t0 = time.time()
        self.columns = new_columns()
        self.recorded = 0
        self.closed = False

    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        response: Any = None,
        exception: Any = None,
        start_time: float | None = None,
        context: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        if self.closed:
            return
        cols, context = self.columns, context or {}
        status = getattr(response, "status_code", 0) or 0
        start = start_time if start_time is not None else time.time() - response_time / 1000
        key = (str(request_type or ""), name)
        index = self.endpoints.get(key)
        if index is None:
            index = self.endpoints.setdefault(key, len(self.endpoints))
        cols["start"].append(start)
        cols["latency_ms"].append(float(response_time))
        cols["endpoint"].append(index)
        cols["status"].append(int(status))
        cols["bytes"].append(int(response_length or 0))
        cols["ok"].append(exception is None)
        # The slot an open-loop schedule gave this request (loadgen/pacing.py).
        slot = context.get(INTENDED, math.nan)
        cols["intended_start"].append(slot)
        if self.loop is not None:
            self.loop.answered(slot)
        cols["ttfb_ms"].append(float(context.get(TTFB, math.nan)))
        self.recorded += 1
        if len(cols["start"]) >= FLUSH_ROWS:
            self.flush()

    def unanswered(self, rows: list[tuple[float, float]]) -> None:
        """Open loop: a row for every slot with no answer at the stop, (sent at, slot), with no
        latency: the writer counts it as waiting until the load stopped (loadgen/pacing.py)."""
        cols = self.columns
        for sent, slot in rows:
            cols["start"].append(sent)
            cols["latency_ms"].append(math.nan)
            cols["endpoint"].append(self.endpoints.setdefault(("", ""), len(self.endpoints)))
            cols["status"].append(0)
            cols["bytes"].append(0)
            cols["ok"].append(False)
            cols["intended_start"].append(slot)
            cols["ttfb_ms"].append(math.nan)

    def flush(self, **extra: Any) -> None:
        """Hand the rows gathered so far to the sink as one batch (with `extra` keys)."""
        if not len(self.columns["start"]) and not extra:
            return
        keys = sorted(self.endpoints, key=self.endpoints.__getitem__)
        batch = encode_batch(self.columns, [n for _, n in keys], [t for t, _ in keys])
        self.columns = new_columns()
        self.sink({**batch, **extra})

    def close(self, stopped_at: float) -> None:
        """The last batch, which says when this process stopped (an unanswered slot waited
        until then); requests reported after this are neither recorded nor counted."""
        if not self.closed:
            self.flush(stopped_at=stopped_at)
            self.closed = True
