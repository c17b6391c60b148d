"""The per-request recorder: one tuple per request (about 1.7 µs each, DESIGN.md), written
when the test stops as this process's part of the cell's raw records (loadgen/parts.py), with
the window this process measured. The harness merges the parts and applies the window rule once
(record.window): a Locust process never decides which rows count."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loadgen.pacing import INTENDED
from loadgen.parts import Row, write_part
from record import io

# File names of one Locust process's part; the harness globs for them.
PART_PREFIX = "raw"
WINDOW_PREFIX = "locust_window"
PART_GLOB = f"{PART_PREFIX}*.part"
WINDOW_GLOB = f"{WINDOW_PREFIX}*.json"


def part_suffix(worker: int | None) -> str:
    return "" if worker is None else f".w{worker}"


class Recorder:
    def __init__(self, *, worker: Callable[[], int | None]) -> None:
        # Which worker this is, asked when writing (Locust numbers workers once they join);
        # None for a single local Locust process.
        self.worker = worker
        self.rows: list[Row] = []
        self.t0: float | None = None
        self.written = False

    def on_test_start(self, **_: Any) -> None:
        self.t0 = time.time()
        self.rows.clear()
        self.written = False

    def on_request(
        self,
        name: str,
        response_time: float,
        response_length: int,
        response: Any = None,
        exception: Any = None,
        start_time: float | None = None,
        context: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        status = getattr(response, "status_code", 0) or 0
        start = start_time if start_time is not None else time.time() - response_time / 1000
        self.rows.append(
            (
                start,
                float(response_time),
                name,
                int(status),
                int(response_length or 0),
                exception is None,
                # The slot an open-loop schedule gave this request (loadgen/pacing.py).
                (context or {}).get(INTENDED, math.nan),
            )
        )

    def unanswered(self, due: list[float], sent: dict[float, float]) -> None:
        """Open loop: a row for every slot of the schedule that has no answer by now, with no
        latency and the time it was sent if it was (else none): the harness counts it as
        waiting until the load stopped (loadgen/pacing.py)."""
        answered = {row[6] for row in self.rows}
        nan = math.nan
        self.rows += [(sent.get(t, nan), nan, "", 0, 0, False, t) for t in due if t not in answered]

    def write(self, out: Path, warmup_s: float, duration_s: float) -> None:
        """This process's rows and measured window, each written atomically (once)."""
        if self.written or self.t0 is None:
            return
        self.written = True
        stopped_at = time.time()
        index = self.worker()
        suffix = part_suffix(index)
        write_part(out / f"{PART_PREFIX}{suffix}.part", self.rows, index or 0)
        window_start = self.t0 + warmup_s
        meta = {
            "t0": self.t0,
            "window_start": window_start,
            "window_end": window_start + duration_s,
            "recorded": len(self.rows),
            "stopped_at": stopped_at,
            "worker": index or 0,
            "pid": os.getpid(),
        }
        io.write_text(out / f"{WINDOW_PREFIX}{suffix}.json", json.dumps(meta))
