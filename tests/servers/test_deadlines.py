"""Each upstream call has one deadline, ms + UPSTREAM_SLACK_S, covering the whole exchange:
a backend that sends its answer a byte at a time gets a 504 in time, on every variant and
every upstream path, and the blocking client never reuses a connection it gave up on."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import pytest

from catalog.strategies import VARIANTS
from servers.config import UPSTREAM_SLACK_S
from servers.upstream import BlockingUpstream, UpstreamError, upstream_timeout_s
from tests.servers.inprocess import TRICKLE_INTERVAL_S, AppUnderTest, RawBackend

DEADLINE_MARGIN_S = 1.5


def no_traceback(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("path", ["/upstream?ms=100", "/fanout?n=2&ms=100"])
def test_trickling_backend_is_a_504_within_the_deadline(
    serve: Callable[..., AppUnderTest],
    trickle_backend: RawBackend,
    short_slack: float,
    caplog: pytest.LogCaptureFixture,
    variant: str,
    path: str,
) -> None:
    # The deadline is longer than the gap between two bytes: a per-recv timeout never fires.
    assert upstream_timeout_s(100) > TRICKLE_INTERVAL_S
    srv = serve(variant, backend_url=trickle_backend.base)
    started = time.monotonic()
    status, headers, body = srv.get(path)
    elapsed = time.monotonic() - started
    assert (status, body) == (504, b"504: backend timed out\n")
    assert headers["Content-Type"].startswith("text/plain")
    assert elapsed < upstream_timeout_s(100) + DEADLINE_MARGIN_S
    assert no_traceback(caplog) == []


def test_trickling_backend_meets_the_documented_deadline(
    serve: Callable[..., AppUnderTest], trickle_backend: RawBackend
) -> None:
    """The documented deadline itself (ms + UPSTREAM_SLACK_S, nothing patched), on a
    variant whose wait blocks."""
    srv = serve("sync", backend_url=trickle_backend.base)
    deadline_s = 0.1 + UPSTREAM_SLACK_S
    started = time.monotonic()
    status, _, body = srv.get("/upstream?ms=100")
    elapsed = time.monotonic() - started
    assert (status, body) == (504, b"504: backend timed out\n")
    assert deadline_s - 0.1 <= elapsed < deadline_s + DEADLINE_MARGIN_S


def test_blocking_client_drops_the_connection_it_timed_out_on(
    trickle_backend: RawBackend, short_slack: float
) -> None:
    client = BlockingUpstream(trickle_backend.base)
    try:
        for _ in range(2):
            # Reading the first call's leftover bytes as an answer would be a 502, not a 504.
            with pytest.raises(UpstreamError) as caught:
                client.call(100, 0)
            assert (caught.value.status, caught.value.message) == (504, "backend timed out")
    finally:
        client.close()
    assert trickle_backend.connections == 2


def answer_then_close(conn: socket.socket, stop: threading.Event) -> None:
    body = b'{"id": 7, "ms": 0}'
    conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body))
    time.sleep(0.05)  # the headers are parsed, and the connection closed, before the body
    conn.sendall(body)


def cut_short(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{")


def test_blocking_client_reads_a_body_after_connection_close() -> None:
    with RawBackend(answer_then_close) as backend:
        client = BlockingUpstream(backend.base)
        try:
            assert client.call(0, 7) == {"id": 7, "ms": 0}
            assert client.call(0, 7) == {"id": 7, "ms": 0}  # on a new connection
        finally:
            client.close()
        assert backend.connections == 2


def test_blocking_client_turns_a_short_body_into_a_502() -> None:
    with RawBackend(cut_short) as backend:
        client = BlockingUpstream(backend.base)
        try:
            with pytest.raises(UpstreamError) as caught:
                client.call(0, 0)
        finally:
            client.close()
    assert (caught.value.status, caught.value.message) == (
        502,
        "backend sent an invalid response",
    )
