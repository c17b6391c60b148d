"""/stream on every variant: chunks flushed one by one (the first byte long before the last),
bounded parameters, and what each strategy does with two streams at once."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from catalog.limits import MS_MAX, STREAM_CHUNK_BYTES_MAX, STREAM_CHUNKS_MAX
from catalog.payloads import STREAM_CONTENT_TYPE, stream_body
from catalog.strategies import BLOCKS, VARIANTS
from harness.verify import verify
from tests.servers.inprocess import AppUnderTest
from tests.servers.threaded import served, timed_get

ALL = sorted(VARIANTS)
CHUNKS, GAP_MS = 5, 200
SLOW = f"/stream?chunks={CHUNKS}&bytes=1000&ms={GAP_MS}"
SLOW_S = (CHUNKS - 1) * GAP_MS / 1000  # 0.8 s from the first chunk to the last


@pytest.mark.parametrize("variant", ALL)
def test_stream_paths_pass_verification(variant: str) -> None:
    with served(variant) as base:
        paths = [
            "/stream?chunks=4&bytes=1000&ms=5",
            "/stream?chunks=1&bytes=1&ms=0",
            "/stream?chunks=30&bytes=70000&ms=0",  # 2.1 MB: more than a socket buffer holds
        ]
        assert verify(base, paths) == []


def test_verification_catches_a_wrong_stream() -> None:
    from harness.verify import _check_body

    path = "/stream?chunks=3&bytes=4&ms=0"
    assert _check_body(path, STREAM_CONTENT_TYPE, stream_body(3, 4)) is None
    assert _check_body(path, STREAM_CONTENT_TYPE, stream_body(3, 4)[:-1]) is not None
    assert _check_body(path, STREAM_CONTENT_TYPE, b"abcd" * 3) == "wrong chunks"
    assert _check_body(path, "application/json", stream_body(3, 4)) is not None


@pytest.mark.parametrize("variant", ALL)
def test_first_byte_comes_long_before_the_last(variant: str) -> None:
    with served(variant) as base:
        got = timed_get(base, SLOW)
    assert got.status == 200
    assert got.content_type == STREAM_CONTENT_TYPE
    assert got.body == stream_body(CHUNKS, 1000)
    assert got.ttfb_s < SLOW_S / 2
    assert got.total_s >= SLOW_S * 0.9
    assert got.total_s - got.ttfb_s >= SLOW_S * 0.8


@pytest.mark.parametrize("variant", ALL)
def test_second_stream_first_byte(variant: str) -> None:
    """A blocking strategy (sync; multiprocess, one process here) serves the second stream only
    after the first has ended; an awaiting one, or a pool with threads to spare, at once."""
    with served(variant, threads=4) as base, ThreadPoolExecutor(2) as pool:
        first = pool.submit(timed_get, base, SLOW)
        time.sleep(0.1)  # the first stream is under way
        second = pool.submit(timed_get, base, SLOW).result()
        first_done = first.result()
    assert first_done.status == second.status == 200
    assert second.body == first_done.body == stream_body(CHUNKS, 1000)
    if VARIANTS[variant].waits == BLOCKS:
        # The second's first byte waits for the whole of the first stream.
        assert second.sent + second.ttfb_s >= first_done.sent + first_done.total_s - 0.05
        assert second.ttfb_s >= SLOW_S * 0.6
    else:
        assert second.ttfb_s < SLOW_S / 2


@pytest.mark.parametrize("variant", ALL)
def test_client_leaving_mid_stream_is_quiet(variant: str, caplog: pytest.LogCaptureFixture) -> None:
    """A client that closes after the first bytes: no traceback, no error log, and the
    server (and its IOLoop) goes on serving."""
    caplog.set_level(logging.WARNING)
    with served(variant) as base:
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /stream?chunks=20&bytes=100000&ms=20 HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(100)
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
        time.sleep(0.6)  # the rest of the stream would have taken 0.4 s
        hello = timed_get(base, "/hello")
        assert hello.status == 200 and hello.body == b"Hello, world"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


BAD_INPUT = [
    "/stream",
    "/stream?chunks=2&bytes=10",
    "/stream?chunks=2&ms=10",
    "/stream?bytes=10&ms=10",
    "/stream?chunks=0&bytes=10&ms=0",
    f"/stream?chunks={STREAM_CHUNKS_MAX + 1}&bytes=10&ms=0",
    "/stream?chunks=2&bytes=0&ms=0",
    f"/stream?chunks=2&bytes={STREAM_CHUNK_BYTES_MAX + 1}&ms=0",
    "/stream?chunks=2&bytes=10&ms=-1",
    f"/stream?chunks=2&bytes=10&ms={MS_MAX + 1}",
    "/stream?chunks=2.5&bytes=10&ms=0",
    f"/stream?chunks=17&bytes={STREAM_CHUNK_BYTES_MAX}&ms=0",  # 17 MiB over the 16 MiB cap
    "/stream?chunks=101&bytes=1&ms=1000",  # 100 s of gaps over the 60 s cap
    "/stream?chunks=2&bytes=10&ms=0&x=1",
    "/stream?chunks=%3Cscript%3E&bytes=10&ms=0",
]


@pytest.mark.parametrize("variant", ALL)
def test_bad_input_is_a_short_400(serve: Callable[..., AppUnderTest], variant: str) -> None:
    srv = serve(variant)
    for path in BAD_INPUT:
        started = time.monotonic()
        status, headers, body = srv.get(path)
        assert status == 400, (path, body)
        assert headers["Content-Type"].startswith("text/plain")
        assert len(body) < 120 and b"Traceback" not in body and b"script" not in body
        assert time.monotonic() - started < 1.0


def test_caps_are_named_in_the_message(serve: Callable[..., AppUnderTest]) -> None:
    srv = serve("coroutine")
    status, _, body = srv.get(f"/stream?chunks=17&bytes={STREAM_CHUNK_BYTES_MAX}&ms=0")
    assert (status, body) == (400, b"400: chunks*bytes must be at most 16777216\n")
    status, _, body = srv.get("/stream?chunks=101&bytes=1&ms=1000")
    assert (status, body) == (400, b"400: (chunks-1)*ms must be at most 60000\n")
