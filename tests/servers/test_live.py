"""/ws/echo, /ws/feed and /poll on every variant (tornado.testing with websocket_connect): the
answers, each strategy's way of waiting, the bounds (400 before the upgrade, 1008 for a client
that stops reading, 1009 for a message too big) and the /health counts."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import websocket as wsclient
from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from catalog.live import (
    CLOSE_POLICY,
    CLOSE_TOO_BIG,
    FEED_BYTES_MAX,
    SEND_BACKLOG_MAX_BYTES,
    WS_MESSAGE_MAX_BYTES,
    Schedule,
    feed_message,
    parse_feed,
)
from catalog.strategies import AWAITS, BLOCKS, POOL, VARIANTS
from harness.processes.procs import http_get
from servers import live
from tests.servers.inprocess import AppUnderTest
from tests.servers.threaded import served

ALL = sorted(VARIANTS)
Serve = Callable[..., AppUnderTest]


def ws_url(app: AppUnderTest, path: str) -> str:
    return app.get_url(path).replace("http://", "ws://", 1)


def connect(app: AppUnderTest, path: str) -> WebSocketClientConnection:
    request = HTTPRequest(ws_url(app, path), connect_timeout=10, request_timeout=10)
    return app.io_loop.run_sync(lambda: websocket_connect(request), timeout=15)


def health_live(app: AppUnderTest) -> dict[str, int]:
    status, _, body = app.get("/health")
    assert status == 200
    counts: dict[str, int] = json.loads(body)["live"]
    return counts


def clear_of_an_event(interval_ms: int, needed_s: float) -> None:
    """Return once no event of `interval_ms` falls in the next `needed_s`: events fall at
    multiples of the interval on the monotonic clock (Schedule), so polls that must time out
    would, once in 40 runs of a 1.5 s test, see the minute's event instead."""
    schedule = Schedule(interval_ms)
    _, due = schedule.next_after(time.monotonic())
    if due - time.monotonic() < needed_s:
        time.sleep(max(due - time.monotonic(), 0.0) + 0.01)


def test_feed_messages_carry_their_sequence_and_send_time() -> None:
    message = feed_message(12, 1764630000.25, 100)
    assert len(message) == 100
    assert parse_feed(message) == (12, 1764630000.25)
    assert parse_feed(message.encode()) == (12, 1764630000.25)
    with pytest.raises(ValueError):
        parse_feed("hello")


def test_schedule_is_fixed_on_the_clock() -> None:
    s = Schedule(100)
    assert s.index(1.05) == 10
    assert s.next_after(1.05) == (11, pytest.approx(1.1))
    now = time.monotonic()
    assert s.wait_blocking(now) is None  # the next event is always after now
    event = s.wait_blocking(now + 0.5)
    assert event is not None and event[0] > s.index(now)
    assert event[0] == s.index(time.monotonic())  # it woke at that event's time
    assert time.monotonic() - now < 0.5


@pytest.mark.parametrize("variant", ALL)
def test_echo_answers_every_message_in_order(serve: Serve, variant: str) -> None:
    app = serve(variant)
    for path in ("/ws/echo", "/ws/echo?ms=20"):
        conn = connect(app, path)

        async def exchange(conn: WebSocketClientConnection = conn) -> list[Any]:
            got = []
            for i in range(3):
                await conn.write_message(f"m{i}")
                got.append(await conn.read_message())
            await conn.write_message(b"\x00bin", binary=True)
            got.append(await conn.read_message())
            return got

        assert app.io_loop.run_sync(exchange, timeout=10) == ["m0", "m1", "m2", b"\x00bin"]
        counts = health_live(app)
        assert counts["websockets"] == 1 and counts["messages_sent"] >= 4
        conn.close()


@pytest.mark.parametrize("variant", ALL)
def test_feed_delivers_every_interval_to_each_subscriber(serve: Serve, variant: str) -> None:
    app = serve(variant)
    conns = [connect(app, "/ws/feed?interval_ms=30&bytes=100") for _ in range(3)]
    assert health_live(app)["feeds"] == 3

    async def read_all() -> list[list[tuple[int, float]]]:
        out = []
        for conn in conns:
            got = []
            for _ in range(4):
                message = await conn.read_message()
                assert isinstance(message, str) and len(message) == 100
                got.append(parse_feed(message))
            out.append(got)
        return out

    for got in app.io_loop.run_sync(read_all, timeout=10):
        seqs = [seq for seq, _ in got]
        assert seqs == sorted(seqs) and len(set(seqs)) == 4
        assert all(abs(time.time() - sent) < 5 for _, sent in got)
    for conn in conns:
        conn.close()
    deadline = time.monotonic() + 10
    while health_live(app)["websockets"] and time.monotonic() < deadline:
        pass  # each /health lets the loop run the closes
    counts = health_live(app)
    assert counts["websockets"] == counts["feeds"] == 0


@pytest.mark.parametrize("variant", ALL)
def test_poll_answers_the_next_event_or_204(serve: Serve, variant: str) -> None:
    app = serve(variant)
    started = time.monotonic()
    status, headers, body = app.get("/poll?timeout_ms=5000&interval_ms=200")
    took = time.monotonic() - started
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    event = json.loads(body)
    assert event["seq"] == Schedule(200).index(time.monotonic())
    assert 0 <= event["waited_ms"] <= 1000 and took < 1.5
    clear_of_an_event(60000, 5.0)
    status, _, body = app.get("/poll?timeout_ms=100&interval_ms=60000")
    assert status == 204 and body == b""
    counts = health_live(app)
    assert counts["polls_answered"] == 1 and counts["polls_timed_out"] == 1
    assert counts["polls_waiting"] == 0


@pytest.mark.parametrize("variant", ALL)
def test_polls_waiting_at_once(serve: Serve, variant: str) -> None:
    """Six polls sent together, with no event before their 0.25 s timeout: an awaiting
    strategy holds all six waiting at once; threadpool (3 threads) three; a blocking one one,
    so its last answer comes six timeouts later."""
    app = serve(variant, threads=3)
    clear_of_an_event(60000, 10.0)
    took, responses = app.gather("/poll?timeout_ms=250&interval_ms=60000", 6)
    assert [r.code for r in responses] == [204] * 6
    held = health_live(app)["polls_waiting_max"]
    waits = VARIANTS[variant].waits
    if waits == AWAITS or VARIANTS[variant].process_pool:
        # processpool's long-lived endpoints wait on the IOLoop (servers/processpool.py)
        assert held == 6 and took < 0.9
    elif waits == POOL:
        assert held == 3
    else:
        assert waits == BLOCKS
        assert held == 1 and took >= 1.4


def test_threadpool_writes_its_answers_on_the_ioloop_thread(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    writers: list[int] = []
    workers: list[int] = []
    original_write = live.LiveSocket.write_message
    original_sleep = live.blocking_sleep

    def recording_write(self: Any, *args: Any, **kwargs: Any) -> Any:
        writers.append(threading.get_ident())
        return original_write(self, *args, **kwargs)

    def recording_sleep(ms: int) -> None:
        workers.append(threading.get_ident())
        original_sleep(ms)

    monkeypatch.setattr(live.LiveSocket, "write_message", recording_write)
    monkeypatch.setattr(live, "blocking_sleep", recording_sleep)
    app = serve("threadpool")
    conn = connect(app, "/ws/echo?ms=10")

    async def exchange() -> Any:
        await conn.write_message("x")
        return await conn.read_message()

    assert app.io_loop.run_sync(exchange, timeout=10) == "x"
    conn.close()
    loop_thread = threading.get_ident()  # AsyncHTTPTestCase runs its IOLoop on this thread
    assert workers and all(t != loop_thread for t in workers)  # the work ran on the pool
    assert writers == [loop_thread]


@pytest.mark.parametrize(
    "path",
    [
        "/ws/feed?interval_ms=0",
        "/ws/feed?interval_ms=60001",
        "/ws/feed?bytes=31",
        f"/ws/feed?bytes={FEED_BYTES_MAX + 1}",
        "/ws/feed?interval=5",
        "/ws/echo?ms=x",
        "/ws/echo?ms=10001",
        "/poll?timeout_ms=0",
        "/poll?timeout_ms=60001",
        "/poll?interval_ms=-1",
        "/poll?wait=1",
    ],
)
def test_bad_parameters_are_400_before_the_upgrade(serve: Serve, path: str) -> None:
    app = serve("coroutine")
    if path.startswith("/ws/"):
        with pytest.raises(Exception) as err:
            connect(app, path)
        assert getattr(err.value, "code", None) == 400
    else:
        status, _, body = app.get(path)
        assert status == 400 and body.startswith(b"400: ")


@pytest.mark.parametrize("variant", ["sync", "coroutine", "threadpool"])
def test_a_message_too_big_closes_with_1009(serve: Serve, variant: str) -> None:
    app = serve(variant)
    conn = connect(app, "/ws/echo")

    async def send_big() -> Any:
        await conn.write_message("y" * (WS_MESSAGE_MAX_BYTES + 1))
        return await conn.read_message()

    try:
        assert app.io_loop.run_sync(send_big, timeout=10) is None  # closed, no echo
        assert conn.close_code == CLOSE_TOO_BIG
    finally:
        conn.close()


@pytest.mark.parametrize("variant", ["sync", "coroutine", "threadpool", "gencoroutine"])
def test_a_client_that_stops_reading_is_closed_with_1008(variant: str) -> None:
    """A subscriber that reads nothing: the kernel's buffers fill, then the server's backlog
    for it; past SEND_BACKLOG_MAX_BYTES the server closes it (1008) and frees the backlog."""
    with served(variant) as base:
        url = base.replace("http://", "ws://") + f"/ws/feed?interval_ms=1&bytes={FEED_BYTES_MAX}"
        ws = wsclient.create_connection(
            url, timeout=10, sockopt=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)]
        )
        try:
            deadline = time.monotonic() + 20
            counts: dict[str, int] = {}
            while time.monotonic() < deadline:
                counts = json.loads(http_get(base + "/health", timeout=5)[2])["live"]
                if counts["backlog_closes"]:
                    break
                # Never above the limit (plus the message that would have passed it).
                assert counts["send_backlog_bytes"] <= SEND_BACKLOG_MAX_BYTES
                time.sleep(0.05)
            assert counts["backlog_closes"] == 1
            code = None
            while code is None:  # what was sent before the close, then the close itself
                opcode, data = ws.recv_data(control_frame=True)
                if opcode == wsclient.ABNF.OPCODE_CLOSE:
                    code = struct.unpack("!H", data[:2])[0]
            assert code == CLOSE_POLICY
        finally:
            ws.shutdown()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            counts = json.loads(http_get(base + "/health", timeout=5)[2])["live"]
            if counts["websockets"] == 0:
                break
            time.sleep(0.05)
        assert counts["websockets"] == 0 and counts["send_backlog_bytes"] == 0
