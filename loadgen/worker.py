"""A Locust worker of a distributed cell, local or on another machine: it introduces itself to
the master (token and versions, loadgen/identity.py), aligns its clock with the master's,
records its requests and sends them in batches through Locust's message API, and reports its
own end: its Locust request count, its CPU over the window and how late its event loop ran
(loadgen/lag.py).

It never outlives its master's attention: if the master stops answering heartbeats for
MASTER_SILENCE_S, the worker stops its users and quits (Locust alone waits 60 s), so no worker
keeps loading a server after its master is gone.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from locust.env import Environment
from locust.runners import WorkerRunner

from loadgen import identity, messages
from loadgen.cpu import CpuWatch
from loadgen.lag import LagProbe, freeze_heap
from loadgen.local import flush_every
from loadgen.pacing import OpenLoop
from loadgen.recorder import Recorder
from record.worker_state import StateNote, WorkerState

log = logging.getLogger("tornado-bench")
PINGS = 5
MASTER_SILENCE_S = 4.0  # the master answers every heartbeat, once a second


class Worker:
    def __init__(self, environment: Environment, loop_for: Any) -> None:
        self.env = environment
        self.runner: WorkerRunner = environment.runner  # type: ignore[assignment]
        self.loop_for = loop_for  # options → OpenLoop | None, once the master's options arrive
        self.loop: OpenLoop | None = None
        self.index: int | None = None
        self.offset_s = math.nan
        self.rtt_ms = math.inf
        self.cpu = CpuWatch()
        self.probe = LagProbe()
        self.recorder = Recorder(self.send_records)
        # Locust's own count of this worker's requests: a worker's stats are reset each time
        # they are reported to the master (every 3 s), so the reports are summed here.
        self.reported = 0
        self.state_file = os.environ.get("BENCH_WORKER_STATE", "")
        for kind, handler in (
            (messages.WELCOME, self.on_welcome),
            (messages.PONG, self.on_pong),
            (messages.REFUSED, self.on_refused),
            (messages.RUN_OVER, self.on_run_over),
        ):
            self.runner.register_message(kind, handler)
        events = environment.events
        events.test_start.add_listener(self.recorder.on_test_start)
        events.test_start.add_listener(self.on_start)
        events.request.add_listener(self.recorder.on_request)
        events.test_stop.add_listener(self.on_stop)
        events.report_to_master.add_listener(self.on_report)
        hello = messages.Hello(
            **identity.describe(os.environ.get("BENCH_TOKEN", "")),
            host=socket.gethostname(),
            pid=os.getpid(),
            local=os.environ.get("BENCH_LOCAL_WORKER") == "1",
        )
        self.runner.send_message(messages.HELLO, hello.to_wire())
        self._note(StateNote(WorkerState.JOINED))
        gevent.spawn(self.watch_master)

    def _note(self, note: StateNote) -> None:
        """Tell the process that started this worker (run_bench.py worker) how it went."""
        if self.state_file:
            note.write(Path(self.state_file))

    def on_welcome(self, environment: Environment, msg: Any, **_: Any) -> None:
        self.index = messages.Welcome.from_wire(msg.data).index
        for _ping in range(PINGS):
            self.runner.send_message(messages.PING, {"t_worker": time.time()})

    def on_pong(self, environment: Environment, msg: Any, **_: Any) -> None:
        now = time.time()
        pong = messages.Pong.from_wire(msg.data)
        sent, master = pong.t_worker, pong.t_master
        rtt = now - sent
        if rtt * 1000.0 < self.rtt_ms:
            # The master read its clock about half way through the round trip.
            self.rtt_ms, self.offset_s = rtt * 1000.0, (sent + now) / 2.0 - master

    def on_refused(self, environment: Environment, msg: Any, **_: Any) -> None:
        reason = msg.data.get("reason", "refused")
        line = f"refused by the master: {reason}"
        print(line, file=sys.stderr, flush=True)
        self._note(StateNote(WorkerState.REFUSED, reason))
        environment.process_exit_code = 1
        gevent.spawn(self.runner.quit)

    def on_report(self, data: dict[str, Any], **_: Any) -> None:
        self.reported += int((data.get("stats_total") or {}).get("num_requests", 0))

    def on_run_over(self, environment: Environment, msg: Any, **_: Any) -> None:
        """The run this worker served has ended (loadgen/farewell.py): nothing left to join."""
        self._note(StateNote(WorkerState.RUN_OVER))
        gevent.spawn(self.runner.quit)

    def on_start(self, **_: Any) -> None:
        self.reported = 0
        opts: Any = self.env.parsed_options
        self.loop = self.recorder.loop = self.loop_for(opts)
        if self.loop is not None:
            self.loop.processes = max(1, int(getattr(opts, "bench_workers_total", 1) or 1))
            self.loop.process_index = self.index or 0
            self.loop.start(time.time())
        self.cpu.start(opts.bench_warmup, opts.bench_duration)
        self.probe.start(opts.bench_warmup, opts.bench_duration)
        freeze_heap(opts.bench_warmup)
        flush_every(self.recorder)

    def send_records(self, batch: dict[str, Any]) -> None:
        offset = 0.0 if math.isnan(self.offset_s) else self.offset_s
        self.runner.send_message(messages.RECORDS, {**batch, "offset_s": offset})

    def on_stop(self, **_: Any) -> None:
        if self.recorder.closed or self.recorder.t0 is None:
            return
        stopped_at = time.time()
        lag = self.probe.figures()
        if self.loop is not None:
            self.recorder.unanswered(self.loop.unanswered(stopped_at))
        self.recorder.close(stopped_at)
        done = messages.Done(
            stopped_at=stopped_at - (0.0 if math.isnan(self.offset_s) else self.offset_s),
            locust_requests=self.reported + int(self.runner.stats.total.num_requests),
            records=self.recorder.recorded,
            cpu_pct=self.cpu.pct(),
            offset_s=self.offset_s,
            rtt_ms=self.rtt_ms if math.isfinite(self.rtt_ms) else math.nan,
            lag_samples=lag.samples,
            lag_p50_ms=lag.p50_ms,
            lag_p99_ms=lag.p99_ms,
            lag_max_ms=lag.max_ms,
            cpu_busiest_pct=lag.cpu_busiest_pct,
            cpu_busiest_100ms_pct=lag.cpu_busiest_100ms_pct,
            rss_load_start_bytes=self.cpu.rss_load_start,
            rss_window_bytes=self.cpu.rss_in_window(),
        )
        self.runner.send_message(messages.DONE, done.to_wire())

    def watch_master(self) -> None:
        while True:
            gevent.sleep(0.5)
            last = self.runner.last_heartbeat_timestamp
            if last and time.time() - last > MASTER_SILENCE_S:
                log.error("master silent for %.0f s: stopping the load", MASTER_SILENCE_S)
                self._note(StateNote(WorkerState.MASTER_LOST))
                self.runner.quit()
                return
