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
from record.stream import WIRE, encode_batch, new_columns

# A batch leaves after this long or this many rows, whichever comes first.
FLUSH_S = 1.0
FLUSH_ROWS = 20_000
# How often (in rows) the row count is compared with FLUSH_ROWS: FLUSH_ROWS is a multiple.
FLUSH_CHECK = 1_000
TTFB = "ttfb_ms"  # the request context key a scenario sets when it measures the first byte
# The request context key that says how many body bytes a request sent (an upload's streamed
# body, a WebSocket message); without it they are read from the request Locust's response
# carries (HttpUser, FastHttpUser) when its body is bytes or text, else unknown (NaN).
BYTES_SENT = "bytes_sent"

Sink = Callable[[dict[str, Any]], None]
# The order on_request appends a row's values in: every wire column, once.
APPEND_ORDER: tuple[str, ...] = (
    *("start", "latency_ms", "endpoint", "status", "bytes", "ok", "intended_start", "ttfb_ms"),
    "bytes_sent",
)
if sorted(APPEND_ORDER) != sorted(WIRE):
    raise ImportError(f"the recorder appends {APPEND_ORDER}, the wire has {tuple(WIRE)}")


def body_bytes(response: Any) -> float:
    """The body bytes of the request behind a Locust response: requests' PreparedRequest.body
    and FastHttpUser's FastRequest.body are bytes, text or None (none sent); a body sent from
    an iterator (a streamed upload) cannot be counted here (NaN: its context says it)."""
    request = getattr(response, "request", None)
    if request is None:
        return math.nan
    body = getattr(request, "body", None)
    if body is None:
        return 0.0
    if isinstance(body, bytes | bytearray | memoryview):
        return float(len(body))
    if isinstance(body, str):
        return float(len(body.encode()))
    return math.nan


class Recorder:
    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self._new_columns()
        # (request type, name) → the index a row carries; a name sent two ways has two.
        self.endpoints: dict[tuple[str, str], int] = {}
        self.t0: float | None = None
        self.recorded = 0  # answered requests recorded since the test started
        self.closed = False
        self.loop: OpenLoop | None = None  # open loop: told which slots got their answer

    def _new_columns(self) -> None:
        """Empty columns, and each one's append bound once: the hot path then makes no
        dictionary look-up per value (about a microsecond a request at 5,000 a second)."""
        self.columns = cols = new_columns()
        self._appends = tuple(cols[name].append for name in APPEND_ORDER)

    def on_test_start(self, **_: Any) -> None:
        self.t0 = time.time()
        self._new_columns()
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
        status = getattr(response, "status_code", 0) or 0
        start = start_time if start_time is not None else time.time() - response_time / 1000
        key = (request_type if type(request_type) is str else str(request_type or ""), name)
        index = self.endpoints.get(key)
        if index is None:
            index = self.endpoints.setdefault(key, len(self.endpoints))
        a_start, a_latency, a_endpoint, a_status, a_bytes, a_ok, a_slot, a_ttfb, a_sent = (
            self._appends
        )
        a_start(start)
        a_latency(float(response_time))
        a_endpoint(index)
        a_status(int(status))
        a_bytes(int(response_length or 0))
        a_ok(exception is None)
        if context:
            # The slot an open-loop schedule gave this request (loadgen/pacing.py).
            slot = context.get(INTENDED, math.nan)
            a_slot(slot)
            if self.loop is not None:
                self.loop.answered(slot)
            a_ttfb(float(context.get(TTFB, math.nan)))
            sent = context.get(BYTES_SENT)
            a_sent(float(sent) if sent is not None else body_bytes(response))
        else:
            a_slot(math.nan)
            a_ttfb(math.nan)
            a_sent(body_bytes(response))
        self.recorded += 1
        if self.recorded % FLUSH_CHECK == 0 and len(self.columns["start"]) >= FLUSH_ROWS:
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
            cols["bytes_sent"].append(math.nan)

    def flush(self, **extra: Any) -> None:
        """Hand the rows gathered so far to the sink as one batch (with `extra` keys)."""
        if not len(self.columns["start"]) and not extra:
            return
        keys = sorted(self.endpoints, key=self.endpoints.__getitem__)
        batch = encode_batch(self.columns, [n for _, n in keys], [t for t, _ in keys])
        self._new_columns()
        self.sink({**batch, **extra})

    def close(self, stopped_at: float) -> None:
        """The last batch, which says when this process stopped (an unanswered slot waited
        until then); requests reported after this are neither recorded nor counted."""
        if not self.closed:
            self.flush(stopped_at=stopped_at)
            self.closed = True
