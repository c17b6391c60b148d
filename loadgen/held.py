"""Many long-lived connections held by one process for little: no greenlet per connection.

A Locust user per connection, each reading its socket on a greenlet of its own, cost a Locust
process 8 KB per parked greenlet alone (its Python frame stack and its copy of the C stack),
and a trip through the greenlet machinery for every message: at 10,000 WebSocket connections
one process was 69-92 % busy and its handshakes queued for seconds. Here a connection is a
socket and one watcher on the gevent hub's event loop: when its socket is ready the hub calls
the connection's callback, which reads what arrived, stamps it and queues it; one greenlet
per process (the Dispatcher) works through the queue: it cuts the bytes into messages, runs
the connection's handler (which may record, reply or block on Locust's own machinery, as hub
callbacks must not) and goes back to waiting. Reading and stamping first, for every ready
socket, keeps one connection's bookkeeping out of another's arrival time.

A connection's life: `open()` starts a non-blocking connect (optionally from a given source
address); the hub says when it is writable (connected, or refused); the subclass says what to
send first (a handshake, a request) and what arrived means. One sweep greenlet per process
fails, in slices, connections that took too long to open or stayed silent too long; nothing
per connection runs a timer.

Without Locust, so the tests can drive it directly; the Locust users are in
loadgen/held_user.py.
"""

from __future__ import annotations

import _socket
import contextlib
import errno
import logging
import os
import socket
import time
from collections import deque
from typing import Any

import gevent
from gevent.event import Event

log = logging.getLogger("tornado-bench")

# One read: a broadcast's message is tens of bytes; 64 KiB takes a 64 KiB message whole.
READ_BYTES = 65_536
# How often the sweep looks at every connection, and how many it looks at before letting
# the hub run again: 2,000 checks take about a millisecond.
SWEEP_S = 0.5
SWEEP_SLICE = 2_000
READ, WRITE = 1, 2  # libev's event flags
# Connections opening (connecting or handshaking) at once in one process; the rest wait their
# turn. A Locust ramp spawns a second's users at once: 1,000 SYNs in a few milliseconds
# overflowed a Tornado server's accept queue (its listen backlog is 128), the kernel dropped
# the SYNs past it, and each of those connections waited for TCP's retransmission (1 s, then
# 3 s): 2,000 connections at 1,000/s had a connect p99 of 2-3 s on every single-process
# strategy. Below any common backlog, so the queue that forms is this one, in order.
MAX_OPENING = 100
# What the hub hands the dispatcher: bytes read (b"" at the end of the stream), the connect
# done, or an error.
DATA, CONNECTED, FAILED = 0, 1, 2
# A connection's states.
CLOSED, CONNECTING, OPEN, QUEUED = 0, 1, 2, 3


class Dispatcher:
    """This process's one greenlet that handles what the hub's watchers read, in arrival
    order, and its sweep. Made on first use (`dispatcher()`), for the hub of that thread."""

    def __init__(self) -> None:
        self.loop = gevent.get_hub().loop
        # (connection, its socket when read, kind, data, when): an item for a socket the
        # connection has since released (closed, reopened) is dropped.
        self.queue: deque[tuple[HeldSocket, Any, int, Any, float]] = deque()
        self._wake = Event()
        self.held: set[HeldSocket] = set()  # every connection open or opening
        self.opening = 0  # connections between their connect and the end of their opening
        self.waiting: deque[HeldSocket] = deque()  # their turn to open (MAX_OPENING)
        self._greenlet = gevent.spawn(self._run)
        self._sweeper = gevent.spawn(self._sweep)
        self.handled = 0  # items worked through (tests, and the sweep's pace)

    def put(self, conn: HeldSocket, kind: int, data: Any, at: float) -> None:
        """Called from hub callbacks: queue one item and wake the dispatcher."""
        self.queue.append((conn, conn.sock, kind, data, at))
        if not self._wake.is_set():
            self._wake.set()

    def _run(self) -> None:
        wake = self._wake
        while True:
            wake.wait()
            wake.clear()
            self.drain()

    def drain(self) -> None:
        """Everything queued, now (also called when the load stops: every message that
        arrived is handled before the records close)."""
        queue = self.queue
        while queue:
            conn, sock, kind, data, at = queue.popleft()
            if conn.sock is not sock:
                continue
            try:
                conn.handle(kind, data, at)
            except Exception:  # one connection's bug must not stop the others'
                log.exception("held connection: handling what arrived failed")
                conn.abandon()
            self.handled += 1

    def _sweep(self) -> None:
        while True:
            gevent.sleep(SWEEP_S)
            now = time.monotonic()
            conns = list(self.held)
            for start in range(0, len(conns), SWEEP_SLICE):
                for conn in conns[start : start + SWEEP_SLICE]:
                    problem = conn.overdue(now)
                    if problem is not None:
                        conn.hub_failed(TimeoutError(problem))
                gevent.sleep(0)

    def turn_done(self) -> None:
        """One connection's opening is over: the next waiting one starts."""
        self.opening -= 1
        while self.waiting and self.opening < MAX_OPENING:
            conn = self.waiting.popleft()
            if conn.state == QUEUED:  # not closed meanwhile
                conn.start_connect()

    def stop(self) -> None:
        self._greenlet.kill(block=False)
        self._sweeper.kill(block=False)


_DISPATCHER: Dispatcher | None = None


def dispatcher() -> Dispatcher:
    global _DISPATCHER
    if _DISPATCHER is None:
        _DISPATCHER = Dispatcher()
    return _DISPATCHER


def drain() -> None:
    """Handle everything the hub has read so far (the load is stopping)."""
    if _DISPATCHER is not None:
        _DISPATCHER.drain()


class HeldSocket:
    """One non-blocking TCP connection driven by the hub. Subclasses say what to send once
    connected (`connected`), what bytes mean (`received`) and what an end means (`ended`);
    those run on the dispatcher's greenlet. Sending (`write`) never blocks: what the kernel
    does not take waits in the connection until its socket is writable."""

    __slots__ = (
        "__weakref__",
        "_opening",
        "_out",
        "_watcher",
        "connect_timeout_s",
        "host",
        "last",
        "port",
        "silence_s",
        "sock",
        "source",
        "started",
        "started_at",
        "state",
    )

    def __init__(
        self,
        host: str,
        port: int,
        *,
        source: str | None = None,
        connect_timeout_s: float = 30.0,
        silence_s: float | None = None,
    ) -> None:
        self.host, self.port, self.source = host, port, source
        self.sock: Any = None
        self.state = CLOSED
        self.started_at = 0.0  # epoch seconds: when the connect began
        self.started = 0.0  # monotonic, same moment
        self.last = 0.0  # monotonic: the last bytes read (or the open)
        self.connect_timeout_s = connect_timeout_s
        self.silence_s = silence_s
        self._watcher: Any = None
        self._out = b""
        self._opening = False  # counted in the dispatcher's opening

    # --- opening ------------------------------------------------------------------------

    def open(self) -> None:
        """Start connecting, or queue for a turn to (returns at once; callable from any
        greenlet or the hub)."""
        self.abandon()
        d = dispatcher()
        if d.opening >= MAX_OPENING:
            self.state = QUEUED
            d.waiting.append(self)
            return
        self.start_connect()

    def start_connect(self) -> None:
        """The connect itself: the clock of the connection's opening starts here."""
        d = dispatcher()
        d.opening += 1
        self._opening = True
        self.started_at, self.started = time.time(), time.monotonic()
        self.last = self.started
        family = _socket.AF_INET6 if ":" in self.host else _socket.AF_INET
        sock = _socket.socket(family, _socket.SOCK_STREAM)
        self.sock, self.state = sock, CONNECTING
        d.held.add(self)
        try:
            sock.setblocking(False)
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            if self.source is not None:
                sock.bind((self.source, 0))
            err = sock.connect_ex((self.host, self.port))
        except OSError as exc:
            self.hub_failed(exc)
            return
        if err not in (0, errno.EINPROGRESS):
            self.hub_failed(OSError(err, os.strerror(err)))
            return
        self._watch(WRITE, self._on_writable)

    def opening_done(self) -> None:
        """The connection is open (or gave up): its turn goes to the next one waiting."""
        if self._opening:
            self._opening = False
            if _DISPATCHER is not None:
                _DISPATCHER.turn_done()

    def _watch(self, events: int, callback: Any) -> None:
        watcher = self._watcher
        if watcher is None:
            watcher = self._watcher = dispatcher().loop.io(self.sock.fileno(), events)
        else:
            watcher.stop()
            watcher.events = events
        watcher.start(callback)

    # --- hub callbacks: read or take the connect's outcome, stamp, queue ---------------------

    def _on_writable(self) -> None:
        if self.state == CONNECTING:
            err = self.sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_ERROR)
            if err:
                self.hub_failed(OSError(err, os.strerror(err)))
                return
            self.state = OPEN
            self._watch(READ, self._on_readable)
            dispatcher().put(self, CONNECTED, None, time.time())
            return
        self._flush()

    def _on_readable(self) -> None:
        try:
            data = self.sock.recv(READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.hub_failed(exc)
            return
        at = time.time()
        self.last = time.monotonic()
        if not data:
            self._stop_watching()
        dispatcher().put(self, DATA, data, at)

    def hub_failed(self, exc: BaseException) -> None:
        """The connection failed (from the hub, the sweep or open): stop watching it and let
        the dispatcher say so."""
        if self.state == CLOSED:
            return
        self._stop_watching()
        self.state = CLOSED
        dispatcher().put(self, FAILED, exc, time.time())

    def _stop_watching(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()

    # --- on the dispatcher's greenlet --------------------------------------------------------

    def handle(self, kind: int, data: Any, at: float) -> None:
        if kind == DATA:
            if self.state != OPEN:
                return  # read before the connection was abandoned
            if data:
                self.received(data, at)
            else:
                self.fail(ConnectionResetError("the server closed the connection"), at)
        elif kind == CONNECTED:
            if self.state == OPEN:
                self.connected(at)
        else:
            self.release()
            self.ended(data, at)

    def fail(self, exc: BaseException, at: float) -> None:
        """End the connection here (a bad frame, a bad answer, the server's end): released,
        then `ended`."""
        if self.sock is None:
            return
        self.release()
        self.ended(exc, at)

    def write(self, data: bytes) -> None:
        """Send `data` after anything still waiting; never blocks."""
        if self.sock is None or self.state == CLOSED:
            raise ConnectionResetError("the connection is closed")
        if self._out:
            self._out += data
            return
        try:
            sent = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        if sent < len(data):
            self._out = data[sent:]
            self._watch(READ | WRITE, self._on_ready)

    def _on_ready(self) -> None:
        """Hub: readable or writable while bytes wait to be sent."""
        self._flush()
        if self.state == OPEN:
            self._on_readable()

    def _flush(self) -> None:
        try:
            sent = self.sock.send(self._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.hub_failed(exc)
            return
        self._out = self._out[sent:]
        if not self._out and self.state == OPEN:
            self._watch(READ, self._on_readable)

    def overdue(self, now: float) -> str | None:
        """Why the sweep should fail this connection now, or None."""
        if self.state == CONNECTING and now - self.started > self.connect_timeout_s:
            return f"not connected in {self.connect_timeout_s:g} s"
        if self.state == OPEN and self.silence_s is not None and now - self.last > self.silence_s:
            return f"nothing received in {self.silence_s:g} s"
        return None

    def release(self) -> None:
        """Close the socket without a word; the connection may be opened again."""
        self.state = CLOSED
        self.opening_done()
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher.close()
            self._watcher = None
        sock, self.sock = self.sock, None
        self._out = b""
        if _DISPATCHER is not None:
            _DISPATCHER.held.discard(self)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    def abandon(self) -> None:
        """Release, quietly (a handler that raised, a reopen)."""
        self.release()

    # --- what a subclass says ----------------------------------------------------------------

    def connected(self, at: float) -> None:
        """TCP is up: send what comes first."""

    def received(self, data: bytes, at: float) -> None:
        """Bytes read at `at` (epoch seconds, stamped as they came off the socket)."""

    def ended(self, exc: BaseException, at: float) -> None:
        """The connection failed or the server ended it (already released)."""


def shut(sock: Any) -> None:
    """Shut a socket both ways, ignoring one already gone."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
