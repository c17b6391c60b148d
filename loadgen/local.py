"""A single local Locust process (no master): it records, streams its records to the cell's
Parquet files itself (record/stream.py, on a thread of its own: loadgen/writer.py), probes how
late its event loop runs (loadgen/lag.py) and stops the load exactly on time. Locust's
--run-time takes whole seconds only (3.5 s becomes 4 s), so the stop is the plugin's; the
command line's --run-time is a backstop."""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gevent
import gevent.event

from loadgen.cpu import CpuWatch
from loadgen.go import wait_for_go
from loadgen.lag import LagProbe, freeze_heap
from loadgen.pacing import INTENDED, OpenLoop
from loadgen.recorder import FLUSH_S, Recorder
from loadgen.writer import OffLoopWriter
from record.loadgen_summary import NOT_PROBED, HubLag, LoadgenSummary, WorkerRecord, write_summary
from record.stream import Counts, RecordWriter, warm
from record.window import Window

if TYPE_CHECKING:  # Locust monkey-patches whoever imports it: only its own processes do
    from locust.env import Environment


def planned_s(opts: Any) -> float:
    return opts.bench_warmup + opts.bench_duration + opts.bench_tail


def window_from(t0: float, opts: Any) -> Window:
    start = t0 + opts.bench_warmup
    return Window(start, start + opts.bench_duration)


def flush_every(recorder: Recorder) -> gevent.Greenlet:
    def loop() -> None:
        while not recorder.closed:
            gevent.sleep(FLUSH_S)
            recorder.flush()

    return gevent.spawn(loop)


def worker_entry(
    index: int, recorder: Recorder, locust_requests: int, cpu: CpuWatch, lag: HubLag
) -> WorkerRecord:
    """This process, as cell.json's loadgen_workers lists it (a single process: clock offset
    and round trip are zero)."""
    return WorkerRecord(
        worker=index,
        host=socket.gethostname(),
        pid=os.getpid(),
        local=True,
        offset_s=0.0,
        rtt_ms=0.0,
        cpu_pct=cpu.pct(),
        records=recorder.recorded,
        locust_requests=locust_requests,
        lag=lag,
        rss_load_start_bytes=known(cpu.rss_load_start),
        rss_window_bytes=known(cpu.rss_in_window()),
    )


def known(value: float) -> float | None:
    """A figure for a record: None (JSON's null) where it is NaN."""
    return None if math.isnan(value) else value


def summary(
    window: Window,
    t0: float,
    stopped_at: float,
    counts: Counts,
    locust_requests: int,
    workers: tuple[WorkerRecord, ...],
    *,
    problems: tuple[str, ...] = (),
    refused: tuple[str, ...] = (),
    master_lag: HubLag = NOT_PROBED,
) -> LoadgenSummary:
    """loadgen.json, in the one shape the single process and the master both write."""
    return LoadgenSummary(
        window=window,
        t0=t0,
        stopped_at=stopped_at,
        records=counts.records,
        requests=counts.requests,
        outside=counts.outside,
        slots=counts.slots,
        locust_requests=locust_requests,
        workers=workers,
        problems=problems,
        refused=refused,
        master_lag=master_lag,
    )


class Once:
    """An action run by its first caller; a caller that comes while it runs waits
    (cooperatively) until it ends. Locust can end a cell twice at once: the plugin's stop
    (test_stop) is still closing the files when Locust's --run-time backstop or a SIGTERM
    fires `quitting`, and Locust exits as soon as the quitting listeners return. A second
    stop that returned at once lost the cell on a busy machine: its records were left under
    temporary names and no loadgen.json was written."""

    def __init__(self, action: Callable[[], None]) -> None:
        self.action = action
        self.began = False
        self.ended = gevent.event.Event()

    def __call__(self) -> None:
        if self.began:
            self.ended.wait()
            return
        self.began = True
        try:
            self.action()
        finally:  # also when the first caller's greenlet is killed: nobody waits forever
            self.ended.set()


def gate(runner: Any, go_file: str) -> None:
    """Locust starts the load by runner.start once its imports are done; the gate holds it
    there until the harness has verified the servers (loadgen/go.py)."""
    start_load = runner.start

    def gated_start(*args: Any, **kwargs: Any) -> Any:
        wait_for_go(go_file)
        return start_load(*args, **kwargs)

    runner.start = gated_start


def install(environment: Environment, loop: OpenLoop | None) -> None:
    # Locust's parsed options (our --bench-* among them) and runner exist by the init event.
    opts: Any = environment.parsed_options
    runner: Any = environment.runner
    warm()  # before the load, not in its window
    out = Path(opts.bench_out)
    gate(runner, opts.bench_go_file)
    cpu = CpuWatch()
    probe = LagProbe()
    state: dict[str, Any] = {}
    recorder = Recorder(lambda batch: state["writer"].add(batch))
    recorder.loop = loop

    def start(**_: Any) -> None:
        t0 = time.time()
        state.update(t0=t0, window=window_from(t0, opts))
        writer = RecordWriter(out, state["window"], open_loop=loop is not None)
        state["writer"] = OffLoopWriter(writer)
        cpu.start(opts.bench_warmup, opts.bench_duration)
        probe.start(opts.bench_warmup, opts.bench_duration)
        freeze_heap(opts.bench_warmup)
        flush_every(recorder)
        gevent.spawn_later(planned_s(opts), runner.quit)

    def finish() -> None:
        stopped_at = time.time()
        lag = probe.figures()
        if loop is not None:
            recorder.unanswered(loop.unanswered(stopped_at))
        recorder.close(stopped_at)
        # Locust's count as the last batch left: closing waits (cooperatively) for the
        # writer's thread, and nothing counted after this point was recorded.
        requests = int(runner.stats.total.num_requests)
        counts = state["writer"].close()
        entry = worker_entry(0, recorder, requests, cpu, lag)
        meta = summary(state["window"], state["t0"], stopped_at, counts, requests, (entry,))
        write_summary(out, meta)

    finish_once = Once(finish)

    def stop(**_: Any) -> None:
        if "writer" in state:  # the load started: its files close once, whoever asks first
            finish_once()

    environment.events.test_start.add_listener(recorder.on_test_start)
    environment.events.test_start.add_listener(start)
    if not opts.bench_no_record:
        environment.events.request.add_listener(recorder.on_request)
    elif loop is not None:  # the schedule still needs to know which slots were answered

        def answered(context: dict[str, Any] | None = None, **_: Any) -> None:
            loop.answered((context or {}).get(INTENDED, math.nan))

        environment.events.request.add_listener(answered)
    environment.events.test_stop.add_listener(stop)
    environment.events.quitting.add_listener(stop)
