"""The Locust master of a distributed cell (Locust's own master/worker mode): it admits only
workers that present the run's token and run the same code, receives their records through
Locust's message API (register_message / send_message) and streams them to the cell's Parquet
files on a thread of its own (loadgen/writer.py: never on the event loop that receives them),
decides the measured window on its own clock, stops the load on time, and says how the cell
went in loadgen.json (record/stream.py), its own event loop's lag among it (loadgen/lag.py).

Admission: Locust's master counts any connected worker as ready and hands it users. Here a
worker counts as ready, and so gets users, only once its hello was accepted (AdmittedNodes); one
that is refused is told why and leaves, and its records are ignored.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, cast

import gevent
from locust.env import Environment
from locust.rpc import Message
from locust.runners import STATE_INIT, STATE_MISSING, MasterRunner, WorkerNodes

from loadgen import identity, messages
from loadgen.go import wait_for_go
from loadgen.lag import LagProbe, freeze_heap
from loadgen.local import planned_s, summary, window_from
from loadgen.writer import OffLoopWriter
from record.loadgen_summary import NOT_PROBED, WorkerRecord, write_summary
from record.stream import RecordWriter, warm

log = logging.getLogger("tornado-bench")
# After the stop, how long the master waits for every worker's last batch.
DONE_WAIT_S = 10.0
WATCH_S = 0.25
# After the quit messages are queued, the moment they get to leave before the master exits
# (Locust's own quit waits 0.5 s for final stats; every last batch is already in here).
QUIT_FLUSH_S = 0.05
# How often the master looks whether every expected worker is admitted and ready (Locust's
# headless master looks once a second: up to a second after the last one arrived).
READY_POLL_S = 0.02


class AdmittedNodes(WorkerNodes):
    """Locust's worker table, where a worker is `ready` (counted before the start, and given
    users) only once admitted."""

    def __init__(self, admitted: dict[str, int]) -> None:
        super().__init__()
        self.admitted = admitted

    def get_by_state(self, state: str) -> list[Any]:
        nodes = super().get_by_state(state)
        return [c for c in nodes if c.id in self.admitted] if state == STATE_INIT else nodes


class Master:
    def __init__(self, environment: Environment) -> None:
        self.env = environment
        self.opts: Any = cast(Any, environment.parsed_options)  # our --bench-* among them
        self.runner: MasterRunner = environment.runner  # type: ignore[assignment]
        self.me = identity.describe(os.environ.get("BENCH_TOKEN", ""))
        self.scenario_files = [n for n in self.opts.bench_scenario_files.split(",") if n]
        self.admitted: dict[str, int] = {}  # client id → worker index (0, 1, ... in order)
        self.info: dict[str, messages.Hello] = {}  # client id → what its hello said
        self.refused: dict[str, str] = {}
        self.done: dict[str, messages.Done] = {}
        self.last_seen: dict[str, float] = {}
        self.lost: dict[str, str] = {}
        self.writer: OffLoopWriter | None = None
        self.probe = LagProbe()
        self.t0 = 0.0
        self.window = window_from(0.0, self.opts)
        warm()  # before the load, not in its window
        self.runner.clients = AdmittedNodes(self.admitted)
        self._guard_late_joiners()
        for kind, handler in (
            (messages.HELLO, self.on_hello),
            (messages.PING, self.on_ping),
            (messages.RECORDS, self.on_records),
            (messages.DONE, self.on_done),
        ):
            self.runner.register_message(kind, handler)
        environment.events.test_start.add_listener(self.on_start)
        # Locust's shutdown calls runner.quit() once more after the runner ended: its own
        # quit would wait 0.5 s there for final stats that are already in (see quit()).
        self.runner.quit = self.quit  # type: ignore[method-assign]
        self.quit_sent = False
        # Locust's own start (at its next once-a-second look) does nothing: the load starts
        # here, when the workers are in and the harness said go.
        self.start = self.runner.start
        self.runner.start = lambda *_args, **_kwargs: None  # type: ignore[method-assign]
        gevent.spawn(self.start_when_ready)

    def start_when_ready(self) -> None:
        """Start the load the moment every expected worker is admitted and ready, and the
        harness has said go (loadgen/go.py), instead of at Locust's next once-a-second look.
        Where the workers never come, Locust gives up (--expect-workers-max-wait) and the
        process exits, this greenlet with it."""
        runner, opts = self.runner, self.opts
        while len(runner.clients.ready) < opts.expect_workers:
            gevent.sleep(READY_POLL_S)
        wait_for_go(opts.bench_go_file)
        # Locust's loop, at its next look, then finds none missing (its workers are running,
        # no longer ready) and calls the start that does nothing.
        opts.expect_workers = 0
        self.start(opts.num_users, opts.spawn_rate)

    def _guard_late_joiners(self) -> None:
        """Locust adds a worker that connects while the load runs to the running dispatch;
        one not admitted yet must not get users, so the dispatcher is hidden meanwhile. Every
        message also says when its worker was last heard from (for a lost worker's time)."""
        runner, original = self.runner, self.runner.handle_message

        def handle(client_id: str, msg: Any) -> None:
            self.last_seen[client_id] = time.time()  # heartbeats included: when last heard
            if msg.type == "client_ready" and client_id not in self.admitted:
                saved, runner._users_dispatcher = runner._users_dispatcher, None
                try:
                    original(client_id, msg)
                finally:
                    runner._users_dispatcher = saved
                return
            original(client_id, msg)

        runner.handle_message = handle  # type: ignore[method-assign]

    def on_hello(self, environment: Environment, msg: Any, **_: Any) -> None:
        client = msg.node_id
        try:
            hello = messages.Hello.from_wire(msg.data)
        except messages.BadMessage as exc:
            self.refuse(client, "?", f"its hello is not this version's ({exc})")
            return
        problems = identity.differences(self.me, hello.identity(), self.scenario_files)
        if problems:
            self.refuse(client, hello.host, "; ".join(problems))
            return
        if client not in self.admitted:
            self.admitted[client] = len(self.admitted)
        self.info[client] = hello
        welcome = messages.Welcome(index=self.admitted[client], t_master=time.time())
        self.runner.send_message(messages.WELCOME, welcome.to_wire(), client_id=client)

    def refuse(self, client: str, host: str, reason: str) -> None:
        """Tell the worker why it is refused, and forget it: Locust counted it among its
        workers when it said client_ready. Left there, it would count as ready, and its quit,
        were it the only worker so far, would be Locust's "last worker quit": a headless
        master then quits, deaf to the workers that were still on their way (a refused
        remote worker used to end a run whose local worker was still importing)."""
        self.refused[client] = reason
        self.runner.clients.pop(client, None)
        log.error("worker %s on %s refused: %s", client, host, reason)
        self.runner.send_message(messages.REFUSED, {"reason": reason}, client_id=client)

    def on_ping(self, environment: Environment, msg: Any, **_: Any) -> None:
        """Clock alignment (NTP's offset estimate): the worker sends its time, the master
        answers with its own; the worker keeps the exchange with the shortest round trip."""
        try:
            reply = messages.Pong(t_worker=float(msg.data["t_worker"]), t_master=time.time())
        except (KeyError, TypeError, ValueError):
            return  # no time to answer: the worker keeps its other exchanges
        self.runner.send_message(messages.PONG, reply.to_wire(), client_id=msg.node_id)

    def on_start(self, **_: Any) -> None:
        self.t0 = time.time()
        self.window = window_from(self.t0, self.opts)
        out = Path(self.opts.bench_out)
        writer = RecordWriter(out, self.window, open_loop=self.opts.bench_rate > 0)
        self.writer = OffLoopWriter(writer)
        self.probe.start(self.opts.bench_warmup, self.opts.bench_duration)
        freeze_heap(self.opts.bench_warmup)
        # Every worker gets these with its spawn message (Locust copies custom options).
        self.opts.bench_workers_total = len(self.admitted)
        gevent.spawn(self.watch)
        gevent.spawn_later(planned_s(self.opts), self.finish)

    def on_records(self, environment: Environment, msg: Any, **_: Any) -> None:
        client = msg.node_id
        if client not in self.admitted or self.writer is None or self.writer.closed:
            if client not in self.admitted:
                log.warning("records from worker %s ignored: not admitted", client)
            return
        data = msg.data
        self.writer.add(data, worker=self.admitted[client], offset_s=float(data["offset_s"]))

    def on_done(self, environment: Environment, msg: Any, **_: Any) -> None:
        if msg.node_id not in self.admitted:
            return
        try:
            self.done[msg.node_id] = messages.Done.from_wire(msg.data)
        except messages.BadMessage as exc:  # counted as lost, at the watch
            log.warning("worker %s: its end of records is unreadable (%s)", msg.node_id, exc)

    def worker_record(self, client: str, index: int) -> WorkerRecord:
        """What loadgen.json says of one admitted worker (None where it never told)."""
        hello, done = self.info.get(client), self.done.get(client)
        return WorkerRecord(
            worker=index,
            host=hello.host if hello else "",
            pid=hello.pid if hello else None,
            local=hello.local if hello else True,
            offset_s=done.known("offset_s") if done else None,
            rtt_ms=done.known("rtt_ms") if done else None,
            cpu_pct=done.known("cpu_pct") if done else None,
            records=done.records if done else None,
            locust_requests=done.locust_requests if done else None,
            client_id=client,
            lag=done.lag() if done else NOT_PROBED,
            rss_load_start_bytes=done.known("rss_load_start_bytes") if done else None,
            rss_window_bytes=done.known("rss_window_bytes") if done else None,
        )

    def watch(self) -> None:
        """A worker that stops answering before it reported its end is lost: the load went on
        without it, so the cell is invalid (harness/outcome.py), with when it was last heard."""
        while self.writer is not None and not self.writer.closed:
            for client in list(self.admitted):
                if client in self.done or client in self.lost:
                    continue
                node = self.runner.clients.get(client)
                if node is None or node.state == STATE_MISSING:
                    heard = self.last_seen.get(client, self.t0) - self.window.start
                    index = self.admitted[client]
                    self.lost[client] = f"worker {index} lost at {heard:.1f} s"
                    log.error("worker %s (%s) lost", index, client)
            gevent.sleep(WATCH_S)

    def finish(self) -> None:
        """Stop every worker, wait for each one's last batch, close the files, quit."""
        runner = self.runner
        runner.stop(send_stop_to_client=False)
        for client in list(self.admitted):
            runner.send_message("stop", client_id=client)
        deadline = time.monotonic() + DONE_WAIT_S
        while time.monotonic() < deadline:
            waiting = [c for c in self.admitted if c not in self.done and c not in self.lost]
            if not waiting:
                break
            gevent.sleep(0.02)
        for client in self.admitted:
            if client not in self.done and client not in self.lost:
                self.lost[client] = f"worker {self.admitted[client]} sent no end of records"
        self.close()
        self.quit()

    def quit(self) -> None:
        """Locust's MasterRunner.quit without its 0.5 s wait for final stats (each worker's
        last batch has arrived, or the worker is recorded lost): tell every worker to quit,
        let the messages leave, end the runner."""
        runner = self.runner
        if self.quit_sent:  # Locust's shutdown, after finish() quit: the workers were told
            return
        self.quit_sent = True
        runner.stop(send_stop_to_client=False)  # a no-op after finish(); not on SIGTERM
        for client in runner.clients.all:
            runner.server.send_to_client(Message("quit", None, client.id))
        gevent.sleep(QUIT_FLUSH_S)
        runner.greenlet.kill(block=True)

    def close(self) -> None:
        assert self.writer is not None
        master_lag = self.probe.figures()
        counts = self.writer.close()
        stopped = [d.stopped_at for d in self.done.values()]
        requests = sum(d.locust_requests for d in self.done.values())
        workers = [self.worker_record(client, index) for client, index in self.admitted.items()]
        stopped_at = max(stopped, default=time.time())
        refused = tuple(f"{c}: {r}" for c, r in self.refused.items())
        write_summary(
            Path(self.opts.bench_out),
            summary(
                self.window,
                self.t0,
                stopped_at,
                counts,
                requests,
                tuple(workers),
                problems=tuple(self.lost.values()),
                refused=refused,
                master_lag=master_lag,
            ),
        )
