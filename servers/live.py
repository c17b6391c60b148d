"""Long-lived connections, on every strategy: ``GET /ws/echo?ms=D`` (a WebSocket that echoes
every message after D ms of work), ``GET /ws/feed?interval_ms=I&bytes=B`` (a WebSocket
subscription: one message of B bytes every I ms, carrying its send time) and
``GET /poll?timeout_ms=T&interval_ms=I`` (long-poll: the next event, or 204 after T ms).

What differs per strategy is how it waits:

- sync, multiprocess: the echo's work blocks inside ``on_message``; a poll blocks the IOLoop
  until the next event, so one process holds one waiting poll at a time;
- threadpool: the echo's work runs on the pool, and the answer is written back on the IOLoop
  thread with ``IOLoop.add_callback`` (``write_message`` is not thread-safe); a poll holds one
  pool thread while it waits, so at most ``--threads`` wait at once;
- coroutine, fanout: ``async def`` and awaits; a poll awaits a ``tornado.locks.Condition``;
- gencoroutine: the same with ``@gen.coroutine`` and ``yield``.

The feed's broadcast is the same on every strategy: one timer per interval on each process's
IOLoop writes to every subscriber of that process. Every write goes through
``LiveSocket.send``, which bounds the bytes a socket may have waiting for the kernel
(SEND_BACKLOG_MAX_BYTES, then a 1008 close); a message above WS_MESSAGE_MAX_BYTES from a client
is a 1009 close. /health reports each process's counts (``LiveHub.snapshot``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import threading
import time
from collections.abc import Awaitable, Generator, Iterator
from concurrent.futures import Executor
from datetime import timedelta
from typing import Any

from tornado import gen, locks, web, websocket
from tornado.ioloop import IOLoop

from catalog.health import LiveCounts
from catalog.limits import MS_MAX
from catalog.live import (
    CLOSE_POLICY,
    DEFAULT_FEED_BYTES,
    DEFAULT_INTERVAL_MS,
    DEFAULT_TIMEOUT_MS,
    ECHO_PARAMS,
    FEED_BYTES_MAX,
    FEED_BYTES_MIN,
    FEED_PARAMS,
    INTERVAL_MS_MAX,
    INTERVAL_MS_MIN,
    POLL_PARAMS,
    SEND_BACKLOG_MAX_BYTES,
    TICKERS_MAX,
    TIMEOUT_MS_MAX,
    TIMEOUT_MS_MIN,
    WS_MESSAGE_MAX_BYTES,
    Schedule,
    feed_message,
)
from catalog.server_config import ServerConfig
from catalog.strategies import Style
from servers.handlers import BenchHandler, Route
from servers.work import blocking_sleep


class Ticker:
    """The events of one interval in one process, published on its IOLoop at the times the
    schedule gives: each feed subscriber gets a message, every awaiting poll is woken."""

    def __init__(self, hub: LiveHub, interval_ms: int) -> None:
        self.hub = hub
        self.schedule = Schedule(interval_ms)
        self.subscribers: set[FeedSocket] = set()
        self.condition = locks.Condition()
        self.waiters = 0  # polls of this interval waiting now
        self.seq = self.schedule.index(time.monotonic())
        self.sent = time.time()
        self._handle: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        _, due = self.schedule.next_after(time.monotonic())
        loop = asyncio.get_running_loop()
        self._handle = loop.call_later(max(due - time.monotonic(), 0.0), self.tick)

    def tick(self) -> None:
        """Publish the latest event due (a late timer skips to it: events are not queued)."""
        self.seq = self.schedule.index(time.monotonic())
        self.sent = time.time()
        messages: dict[int, str] = {}  # one message per size, shared by its subscribers
        for sub in list(self.subscribers):
            message = messages.get(sub.size)
            if message is None:
                message = messages[sub.size] = feed_message(self.seq, self.sent, sub.size)
            sub.send(message)
        self.condition.notify_all()
        self._arm()

    @property
    def idle(self) -> bool:
        return not self.subscribers and self.waiters == 0

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class LiveHub:
    """One process's long-lived connections: its tickers and the counts /health reports.
    Counts change on the IOLoop thread, except polls waiting in pool threads (the lock)."""

    def __init__(self) -> None:
        self.tickers: dict[int, Ticker] = {}
        self.sockets = 0  # open WebSockets (echo and feed)
        self.feeds = 0  # of which feed subscriptions
        self.messages_sent = 0
        self.backlog_bytes = 0  # written to sockets, not yet taken by the kernel
        self.backlog_closes = 0  # sockets closed with 1008 for passing the backlog limit
        self._lock = threading.Lock()
        self._polls_waiting = 0
        self.polls_waiting_max = 0  # the most polls this process held waiting at once
        self.polls_answered = 0
        self.polls_timed_out = 0

    def ticker(self, interval_ms: int) -> Ticker:
        ticker = self.tickers.get(interval_ms)
        if ticker is None:
            if len(self.tickers) >= TICKERS_MAX:
                raise web.HTTPError(
                    503, f"at most {TICKERS_MAX} distinct interval_ms values at once"
                )
            ticker = self.tickers[interval_ms] = Ticker(self, interval_ms)
        return ticker

    def release(self, ticker: Ticker) -> None:
        """Stop a ticker nobody listens to (the schedule is fixed, so none is lost)."""
        if ticker.idle and self.tickers.get(ticker.schedule.interval_ms) is ticker:
            ticker.stop()
            del self.tickers[ticker.schedule.interval_ms]

    def poll_waits(self, delta: int) -> None:
        with self._lock:
            self._polls_waiting += delta
            self.polls_waiting_max = max(self.polls_waiting_max, self._polls_waiting)

    def poll_done(self, answered: bool) -> None:
        with self._lock:
            if answered:
                self.polls_answered += 1
            else:
                self.polls_timed_out += 1

    def snapshot(self) -> LiveCounts:
        with self._lock:
            return LiveCounts(
                websockets=self.sockets,
                feeds=self.feeds,
                polls_waiting=self._polls_waiting,
                polls_waiting_max=self.polls_waiting_max,
                polls_answered=self.polls_answered,
                polls_timed_out=self.polls_timed_out,
                messages_sent=self.messages_sent,
                send_backlog_bytes=self.backlog_bytes,
                backlog_closes=self.backlog_closes,
                send_backlog_max_bytes=SEND_BACKLOG_MAX_BYTES,
            )


# --- WebSockets -------------------------------------------------------------------------


class LiveSocket(websocket.WebSocketHandler, BenchHandler):
    """A WebSocket of this server: parameters checked before the upgrade (400), every write
    on the IOLoop thread through ``send`` with the send backlog bounded."""

    params: tuple[str, ...] = ()

    def initialize(self, config: ServerConfig, hub: LiveHub, **kw: Any) -> None:  # type: ignore[override]
        BenchHandler.initialize(self, config)
        self.hub = hub
        self.executor: Executor | None = kw.get("executor")
        self.pending = 0  # this socket's bytes written and not yet flushed
        self.opened = False

    @property
    def max_message_size(self) -> int:
        return WS_MESSAGE_MAX_BYTES

    def prepare(self) -> None:
        self.only_params(self.params)
        self.parse()

    def parse(self) -> None:
        """Read the query's parameters into attributes (400 for a bad one)."""

    def open(self, *args: str, **kwargs: str) -> None:
        self.opened = True
        self.hub.sockets += 1

    def on_close(self) -> None:
        if self.opened:
            self.opened = False
            self.hub.sockets -= 1
            self.hub.backlog_bytes -= self.pending
            self.pending = 0

    def send(self, message: str | bytes) -> None:
        """Write one message (IOLoop thread only). Past SEND_BACKLOG_MAX_BYTES waiting for a
        client that does not read, the socket is closed with 1008 rather than buffered."""
        if not self.opened or self.ws_connection is None or self.ws_connection.is_closing():
            return
        size = len(message)
        if self.pending + size > SEND_BACKLOG_MAX_BYTES:
            self.hub.backlog_closes += 1
            self.close(CLOSE_POLICY, f"send backlog over {SEND_BACKLOG_MAX_BYTES} bytes")
            return
        try:
            written = self.write_message(message, binary=isinstance(message, bytes))
        except websocket.WebSocketClosedError:
            return
        self.pending += size
        self.hub.backlog_bytes += size
        self.hub.messages_sent += 1
        written.add_done_callback(functools.partial(self._flushed, size))

    def _flushed(self, size: int, future: Any) -> None:
        if not future.cancelled():
            future.exception()  # a write cut short by a close is not an error to log
        if self.opened:
            self.pending -= size
            self.hub.backlog_bytes -= size


class EchoSocket(LiveSocket):
    """/ws/echo?ms=D: each message back after D ms of work. Tornado hands a socket its next
    message only once ``on_message`` (or what it returns) is done, so answers stay in order."""

    params = ECHO_PARAMS

    def parse(self) -> None:
        self.ms = self.int_param("ms", 0, MS_MAX, default=0)


class BlockingEcho(EchoSocket):
    """sync, multiprocess: the work blocks the IOLoop, every other socket of the process waits."""

    def on_message(self, message: str | bytes) -> None:
        if self.ms:
            blocking_sleep(self.ms)
        self.send(message)


class AwaitEcho(EchoSocket):
    async def on_message(self, message: str | bytes) -> None:
        if self.ms:
            await asyncio.sleep(self.ms / 1000.0)
        self.send(message)


class GenEcho(EchoSocket):
    @gen.coroutine
    def on_message(self, message: str | bytes) -> Generator[Any, Any, None]:
        if self.ms:
            yield gen.sleep(self.ms / 1000.0)
        self.send(message)


class PoolEcho(EchoSocket):
    """threadpool: the work on the pool; the answer handed back to the IOLoop thread with
    ``add_callback``, never written from the pool thread."""

    def on_message(self, message: str | bytes) -> Awaitable[None]:
        loop = IOLoop.current()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def answer() -> None:
            self.send(message)
            if not done.done():
                done.set_result(None)

        def work() -> None:
            try:
                blocking_sleep(self.ms)
            finally:
                loop.add_callback(answer)

        assert self.executor is not None
        try:
            self.executor.submit(work)
        except RuntimeError:  # the pool is shut down: the server is stopping
            self.close(1001, "server is stopping")
            done.set_result(None)
        return done


class FeedSocket(LiveSocket):
    """/ws/feed?interval_ms=I&bytes=B: a subscriber of this process's ticker for I. The same
    on every strategy: the broadcast runs on the IOLoop whatever the handlers do."""

    params = FEED_PARAMS

    def parse(self) -> None:
        self.interval_ms = self.int_param(
            "interval_ms", INTERVAL_MS_MIN, INTERVAL_MS_MAX, DEFAULT_INTERVAL_MS
        )
        self.size = self.int_param("bytes", FEED_BYTES_MIN, FEED_BYTES_MAX, DEFAULT_FEED_BYTES)
        self.ticker: Ticker | None = None

    def open(self, *args: str, **kwargs: str) -> None:
        try:
            self.ticker = self.hub.ticker(self.interval_ms)
        except web.HTTPError:
            self.close(1013, f"at most {TICKERS_MAX} distinct interval_ms values at once")
            return
        super().open()
        self.hub.feeds += 1
        self.ticker.subscribers.add(self)

    def on_message(self, message: str | bytes) -> None:
        """A subscriber has nothing to say; what it sends is ignored."""

    def on_close(self) -> None:
        if self.ticker is not None:
            self.ticker.subscribers.discard(self)
            self.hub.release(self.ticker)
            self.ticker = None
            self.hub.feeds -= 1
        super().on_close()


# --- long-poll ----------------------------------------------------------------------------


class PollHandler(BenchHandler):
    """/poll?timeout_ms=T&interval_ms=I: answers the next event of I (200, JSON with its
    sequence number and send time) or, after T ms without one, 204."""

    def initialize(self, config: ServerConfig, hub: LiveHub, **kw: Any) -> None:  # type: ignore[override]
        super().initialize(config)
        self.hub = hub
        self.executor: Executor | None = kw.get("executor")

    def poll_params(self) -> tuple[int, Ticker]:
        self.only_params(POLL_PARAMS)
        timeout_ms = self.int_param(
            "timeout_ms", TIMEOUT_MS_MIN, TIMEOUT_MS_MAX, DEFAULT_TIMEOUT_MS
        )
        interval_ms = self.int_param(
            "interval_ms", INTERVAL_MS_MIN, INTERVAL_MS_MAX, DEFAULT_INTERVAL_MS
        )
        return timeout_ms, self.hub.ticker(interval_ms)

    @contextlib.contextmanager
    def waiting_on_loop(self, ticker: Ticker) -> Iterator[None]:
        """A poll waiting on the IOLoop (the awaiting and yielding styles): counted as waiting
        on its ticker and in /health while it waits, and the ticker let go after."""
        ticker.waiters += 1
        self.hub.poll_waits(1)
        try:
            yield
        finally:
            ticker.waiters -= 1
            self.hub.poll_waits(-1)
            self.hub.release(ticker)

    def answer(self, event: tuple[int, float] | None, arrived: float) -> None:
        self.hub.poll_done(event is not None)
        if event is None:
            self.set_status(204)
            self.finish()
            return
        seq, sent = event
        waited_ms = (time.monotonic() - arrived) * 1000
        self.set_header("Content-Type", "application/json")
        body = {"seq": seq, "sent": sent, "waited_ms": round(waited_ms, 3), "pid": os.getpid()}
        self.finish(json.dumps(body))


class BlockingPoll(PollHandler):
    """sync, multiprocess: the wait blocks the IOLoop (one waiting poll per process)."""

    def get(self) -> None:
        arrived = time.monotonic()
        timeout_ms, ticker = self.poll_params()
        self.hub.poll_waits(1)
        try:
            event = ticker.schedule.wait_blocking(arrived + timeout_ms / 1000)
        finally:
            self.hub.poll_waits(-1)
            self.hub.release(ticker)
        self.answer(event, arrived)


class PoolPoll(PollHandler):
    """threadpool: the wait holds a pool thread; a poll queued behind busy threads keeps its
    deadline (it answers 204 at once if that passed while it queued)."""

    async def get(self) -> None:
        arrived = time.monotonic()
        timeout_ms, ticker = self.poll_params()
        deadline = arrived + timeout_ms / 1000
        hub = self.hub

        def wait() -> tuple[int, float] | None:
            hub.poll_waits(1)
            try:
                return ticker.schedule.wait_blocking(deadline)
            finally:
                hub.poll_waits(-1)

        ticker.waiters += 1
        try:
            event = await IOLoop.current().run_in_executor(self.executor, wait)
        finally:
            ticker.waiters -= 1
            hub.release(ticker)
        self.answer(event, arrived)


class AwaitPoll(PollHandler):
    """coroutine, fanout: awaits the ticker's Condition; every poll can wait at once."""

    async def get(self) -> None:
        arrived = time.monotonic()
        timeout_ms, ticker = self.poll_params()
        with self.waiting_on_loop(ticker):
            woken = await ticker.condition.wait(timeout=timedelta(milliseconds=timeout_ms))
        self.answer((ticker.seq, ticker.sent) if woken else None, arrived)


class GenPoll(PollHandler):
    """gencoroutine: the Condition's wait yielded."""

    @gen.coroutine
    def get(self) -> Generator[Any, Any, None]:
        arrived = time.monotonic()
        timeout_ms, ticker = self.poll_params()
        with self.waiting_on_loop(ticker):
            woken = yield ticker.condition.wait(timeout=timedelta(milliseconds=timeout_ms))
        self.answer((ticker.seq, ticker.sent) if woken else None, arrived)


# --- wiring -------------------------------------------------------------------------------

# How each Style waits on a long-lived connection: its echo socket and its poll handler (the
# feed's broadcast is the same for all). processpool waits on the IOLoop, as the awaiting
# styles do: a waiting socket or poll is no blocking work to hand a worker process, and its
# state (the socket, the schedule) cannot cross into one.
HANDLERS: dict[Style, tuple[type[EchoSocket], type[PollHandler]]] = {
    Style.BLOCKING: (BlockingEcho, BlockingPoll),
    Style.POOL: (PoolEcho, PoolPoll),
    Style.AWAITING: (AwaitEcho, AwaitPoll),
    Style.GENERATOR: (GenEcho, GenPoll),
    Style.PROCESS_POOL: (AwaitEcho, AwaitPoll),
}


def routes(style: Style, kw: dict[str, Any]) -> list[Route]:
    """/ws/echo, /ws/feed and /poll in `style`; kw carries the process's LiveHub as `hub`."""
    echo, poll = HANDLERS[style]
    return [(r"/ws/echo", echo, kw), (r"/ws/feed", FeedSocket, kw), (r"/poll", poll, kw)]
