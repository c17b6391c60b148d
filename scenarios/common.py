"""Shared by every Locust file: the harness's command-line options, body checks, and the
per-request recorder that writes the raw data of a cell.

The recorder keeps one tuple per request (about 1.7 µs each) and, when the test stops, writes
the requests that *completed* inside the measured window to requests.parquet and the rest
(warm-up and tail) to outside.parquet. Counting completions inside a window that closes before
Locust stops means requests cut off at stop can never distort the rate.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from locust import events
from locust.env import Environment
from locust.runners import MasterRunner

REQUEST_COLUMNS = ("start", "latency_ms", "endpoint", "status", "bytes", "ok", "worker")


@events.init_command_line_parser.add_listener
def _bench_options(parser: Any) -> None:
    group = parser.add_argument_group("tornado-bench")
    group.add_argument("--bench-out", default="", help="cell folder for raw records")
    group.add_argument("--bench-warmup", type=float, default=0.0, help="warm-up seconds")
    group.add_argument("--bench-duration", type=float, default=0.0, help="measured seconds")
    group.add_argument("--ms", type=int, default=50, help="simulated wait per call (ms)")
    group.add_argument("--n", type=int, default=4, help="calls (fanout) or CPU units (cpu)")


def expect(response: Any, *, contains: bytes | None = None, status: int = 200) -> None:
    """Mark a catch_response response failed unless its status and body are right."""
    if response.status_code != status:
        response.failure(f"status {response.status_code}")
    elif contains is not None and contains not in (response.content or b""):
        response.failure("unexpected body")
    else:
        response.success()


class Recorder:
    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self.rows: list[tuple[float, float, str, int, int, bool]] = []
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
            )
        )

    def on_stop(self, **_: Any) -> None:
        if self.written or self.t0 is None:
            return
        if isinstance(self.environment.runner, MasterRunner):
            return  # requests happen on the workers; each writes its own part
        opts = self.environment.parsed_options
        if not opts or not opts.bench_out:
            return
        self.written = True
        self.write(Path(opts.bench_out), opts.bench_warmup, opts.bench_duration)

    def write(self, out: Path, warmup: float, duration: float) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        assert self.t0 is not None
        window_start = self.t0 + warmup
        window_end = window_start + duration
        worker = int(getattr(self.environment.runner, "worker_index", 0) or 0)
        inside: list[tuple[Any, ...]] = []
        outside: list[tuple[Any, ...]] = []
        for row in self.rows:
            end = row[0] + row[1] / 1000.0
            (inside if window_start <= end < window_end else outside).append((*row, worker))
        suffix = f".w{worker}" if worker or _is_worker(self.environment) else ""
        for name, rows in (("requests", inside), ("outside", outside)):
            columns = list(zip(*rows, strict=True)) if rows else [[] for _ in REQUEST_COLUMNS]
            table = pa.table(
                {
                    "start": pa.array(columns[0], pa.float64()),
                    "latency_ms": pa.array(columns[1], pa.float64()),
                    "endpoint": pa.array(columns[2], pa.string()),
                    "status": pa.array(columns[3], pa.int32()),
                    "bytes": pa.array(columns[4], pa.int64()),
                    "ok": pa.array(columns[5], pa.bool_()),
                    "worker": pa.array(columns[6], pa.int32()),
                }
            )
            _atomic(out / f"{name}{suffix}.parquet", lambda tmp, t=table: pq.write_table(t, tmp))
        meta = {
            "t0": self.t0,
            "window_start": window_start,
            "window_end": window_end,
            "recorded": len(self.rows),
            "inside": len(inside),
            "worker": worker,
            "pid": os.getpid(),
        }
        _atomic(
            out / f"locust_window{suffix}.json",
            lambda tmp: Path(tmp).write_text(json.dumps(meta)),
        )


def _is_worker(environment: Environment) -> bool:
    return type(environment.runner).__name__ == "WorkerRunner"


def _atomic(path: Path, write: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(str(tmp))
    os.replace(tmp, path)


@events.init.add_listener
def _install_recorder(environment: Environment, **_: Any) -> None:
    recorder = Recorder(environment)
    environment.events.test_start.add_listener(recorder.on_test_start)
    environment.events.request.add_listener(recorder.on_request)
    environment.events.test_stop.add_listener(recorder.on_stop)
    environment.events.quitting.add_listener(recorder.on_stop)
