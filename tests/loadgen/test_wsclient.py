"""The project's WebSocket client and long-poll (loadgen/wsclient.py, longpoll.py, held.py) in
this process, on the gevent hub, against scripted servers on plain threads (no Tornado, no
Locust): a bad handshake, a masked server frame and an oversized frame are each a clear error
on that connection alone, while another connection of the same process goes on; messages,
pings and the server's close frame; a silent connection failed by the sweep; a long-poll that
re-sends on the same connection."""

from __future__ import annotations

import base64
import hashlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import gevent
import pytest

from loadgen import held
from loadgen.frames import BINARY, CLOSE, PING, PONG, TEXT, FrameError, mask
from loadgen.http_client import Target, request_bytes
from loadgen.longpoll import LongPoll
from loadgen.wsclient import (
    GUID,
    ConnectionEnded,
    HandshakeError,
    WebSocketClient,
    sent_at,
    stamped,
)

Script = Callable[[socket.socket, bytes], None]  # (connection, the accept it should send)
WAIT_S = 10.0


def accept_for(request: bytes) -> bytes:
    key = next(
        line.split(b":", 1)[1].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key")
    )
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def upgrade(conn: socket.socket, accept: bytes) -> None:
    conn.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )


def server_frame(payload: bytes, opcode: int = TEXT, *, masked: bool = False) -> bytes:
    n = len(payload)
    second = 0x80 if masked else 0
    if n < 126:
        head = bytes([0x80 | opcode, second | n])
    elif n < 1 << 16:
        head = bytes([0x80 | opcode, second | 126]) + struct.pack("!H", n)
    else:
        head = bytes([0x80 | opcode, second | 127]) + struct.pack("!Q", n)
    if masked:
        key = b"\x0a\x0b\x0c\x0d"
        return head + key + mask(key, payload)
    return head + payload


def read_client_frame(conn: socket.socket) -> tuple[int, bytes]:
    head = conn.recv(2, socket.MSG_WAITALL)
    assert head[1] & 0x80, "a client frame must be masked"
    length = head[1] & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", conn.recv(2, socket.MSG_WAITALL))
    key = conn.recv(4, socket.MSG_WAITALL)
    data = conn.recv(length, socket.MSG_WAITALL) if length else b""
    return head[0] & 0x0F, mask(key, data)


class Scripted:
    """A listener whose k-th connection runs scripts[k] after reading the handshake (the
    scripts' threads hold their connections until the test ends)."""

    def __init__(self, scripts: list[Script]) -> None:
        self.scripts = scripts
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        for script in self.scripts:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._run, args=(conn, script), daemon=True).start()

    @staticmethod
    def _run(conn: socket.socket, script: Script) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            data = conn.recv(4096)
            if not data:
                return
            request += data
        with suppress(OSError):  # the test closed it
            script(conn, accept_for(request) if b"Sec-WebSocket-Key" in request else b"")

    def close(self) -> None:
        self.listener.close()
        for conn in self.conns:
            conn.close()


@contextmanager
def scripted(*scripts: Script) -> Iterator[Scripted]:
    server = Scripted(list(scripts))
    try:
        yield server
    finally:
        server.close()


def url(server: Scripted) -> str:
    return f"ws://127.0.0.1:{server.port}/ws/feed?interval_ms=100"


def hold(conn: socket.socket, _: bytes) -> None:
    """Keep the connection open and silent until the test closes it."""
    while conn.recv(4096):
        pass


def answer_101_then(*frames: bytes, pause_s: float = 0.0) -> Script:
    def script(conn: socket.socket, accept: bytes) -> None:
        upgrade(conn, accept)
        for data in frames:
            time.sleep(pause_s)
            conn.sendall(data)
        hold(conn, accept)

    return script


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        gevent.sleep(0.01)


def test_messages_arrive_stamped_and_a_ping_is_answered() -> None:
    got_pong = threading.Event()
    pong: list[bytes] = []

    def script(conn: socket.socket, accept: bytes) -> None:
        upgrade(conn, accept)
        conn.sendall(server_frame(stamped(b"one")) + server_frame(b"x" * 300, BINARY))
        conn.sendall(server_frame(b"are you there", PING))
        opcode, payload = read_client_frame(conn)
        pong.append(payload)
        got_pong.set() if opcode == PONG else None
        half = server_frame(stamped(b"two"))
        conn.sendall(half[:3])
        time.sleep(0.2)  # the message is stamped when its last byte arrives
        conn.sendall(half[3:])
        hold(conn, accept)

    arrived: list[tuple[int, bytes, float]] = []
    with scripted(script) as server:
        client = WebSocketClient(
            url(server), on_message=lambda c, op, payload, at: arrived.append((op, payload, at))
        )
        assert client.connect(timeout=WAIT_S) > 0
        wait_for(lambda: len(arrived) == 3)
        client.close()
    assert got_pong.is_set() and pong == [b"are you there"]
    (op1, one, at1), (op2, big, _), (op3, two, at3) = arrived
    assert (op1, op2, op3) == (TEXT, BINARY, TEXT)
    assert one.endswith(b" one") and big == b"x" * 300 and two.endswith(b" two")
    assert 0 <= at1 - sent_at(one) < 1.0
    assert at3 - sent_at(two) >= 0.2  # stamped with its second half


def test_send_and_receive_and_the_servers_close_frame() -> None:
    def echo_then_close(conn: socket.socket, accept: bytes) -> None:
        upgrade(conn, accept)
        opcode, payload = read_client_frame(conn)
        conn.sendall(server_frame(payload, opcode))
        conn.sendall(server_frame(struct.pack("!H", 1008) + b"too slow", CLOSE))
        hold(conn, accept)

    with scripted(echo_then_close) as server:
        client = WebSocketClient(url(server))
        client.connect(timeout=WAIT_S)
        client.send("héllo")
        assert client.receive(timeout=WAIT_S) == "héllo".encode()
        with pytest.raises(ConnectionEnded, match=r"closed by the server \(1008: too slow\)"):
            client.receive(timeout=WAIT_S)
        assert client.sock is None


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", "answered 'HTTP/1.1 404 Not"),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: bm90IHRoZSByaWdodCBvbmU=\r\n\r\n",
            "Sec-WebSocket-Accept is 'bm90IHRoZSByaWdodCBvbmU='",
        ),
        (b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n", "no Upgrade"),
    ],
)
def test_a_bad_handshake_is_a_clear_error(answer: bytes, problem: str) -> None:
    def script(conn: socket.socket, accept: bytes) -> None:
        conn.sendall(answer)
        hold(conn, accept)

    opened: list[BaseException | None] = []
    with scripted(script) as server:
        client = WebSocketClient(url(server), on_open=lambda c, error: opened.append(error))
        with pytest.raises(HandshakeError, match=problem.replace("(", r"\(")):
            client.connect(timeout=WAIT_S)
    assert len(opened) == 1 and isinstance(opened[0], HandshakeError)
    assert client.sock is None  # closed, nothing left watching it


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        (server_frame(b"masked by the server", masked=True), "a masked frame from the server"),
        (server_frame(b"y" * 70_000, BINARY)[:20], "a frame of 70000 bytes \\(at most 1000\\)"),
        (bytes([0x80 | 0x3, 2]) + b"??", "opcode 0x3"),
    ],
)
def test_bad_frames_end_that_connection_alone(bad: bytes, problem: str) -> None:
    """The bad connection ends with the error (the message before it still counts); another
    connection of the process keeps receiving."""
    ended: list[BaseException] = []
    arrived: list[bytes] = []

    def good(conn: socket.socket, accept: bytes) -> None:
        upgrade(conn, accept)
        for k in range(3):
            time.sleep(0.1)
            conn.sendall(server_frame(b"good %d" % k))
        hold(conn, accept)

    with scripted(answer_101_then(server_frame(b"before"), bad), good) as server:
        bad_client = WebSocketClient(
            url(server),
            on_message=lambda c, op, payload, at: arrived.append(payload),
            on_close=lambda c, exc, at: ended.append(exc),
            max_message_bytes=1000,
        )
        bad_client.connect(timeout=WAIT_S)
        wait_for(lambda: bool(ended))
        good_client = WebSocketClient(
            url(server), on_message=lambda c, op, payload, at: arrived.append(payload)
        )
        good_client.connect(timeout=WAIT_S)
        wait_for(lambda: b"good 2" in arrived)
        good_client.close()
    (error,) = ended
    assert isinstance(error, FrameError)
    assert error.args[0].startswith(problem.replace("\\", "")[:20])
    assert arrived == [b"before", b"good 0", b"good 1", b"good 2"]
    assert bad_client.sock is None


def test_a_refused_connect_and_a_silent_connection_fail_cleanly() -> None:
    with socket.create_server(("127.0.0.1", 0)) as spare:
        port = spare.getsockname()[1]
    opened: list[BaseException | None] = []
    refused = WebSocketClient(f"ws://127.0.0.1:{port}/", on_open=lambda c, e: opened.append(e))
    refused.open()
    wait_for(lambda: bool(opened))
    assert isinstance(opened[0], ConnectionRefusedError)

    ended: list[BaseException] = []
    with scripted(answer_101_then()) as server:
        silent = WebSocketClient(
            url(server), on_close=lambda c, exc, at: ended.append(exc), silence_s=0.3
        )
        silent.connect(timeout=WAIT_S)
        started = time.monotonic()
        wait_for(lambda: bool(ended))
    assert isinstance(ended[0], TimeoutError) and "nothing received in 0.3 s" in str(ended[0])
    assert 0.3 <= time.monotonic() - started < 0.3 + 2 * held.SWEEP_S + 1


def test_a_long_poll_is_sent_again_on_the_same_connection() -> None:
    requests: list[bytes] = []

    def poll_server(conn: socket.socket, _: bytes) -> None:
        requests.append(b"first")
        for k in range(4):
            body = b'{"seq": %d}' % k
            time.sleep(0.05)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            if k < 3:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(4096)
                requests.append(request)
        conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n"[:20])  # a head cut short, then EOF
        conn.shutdown(socket.SHUT_WR)
        hold(conn, b"")

    answers: list[tuple[int, bytes, BaseException | None]] = []
    with scripted(poll_server) as server:
        target = Target.of(f"http://127.0.0.1:{server.port}")
        poll = LongPoll(
            target.host,
            target.port,
            request_bytes("GET", "/poll?timeout_ms=100", target),
            lambda p, status, body, sent, at, error: answers.append((status, body, error)),
        )
        poll.open()
        wait_for(lambda: len(answers) == 5)
        poll.release()
    assert [a[:2] for a in answers[:4]] == [(200, b'{"seq": %d}' % k) for k in range(4)]
    assert all(a[2] is None for a in answers[:4])
    assert len(server.conns) == 1  # one keep-alive connection for every poll
    assert requests[1].startswith(b"GET /poll?timeout_ms=100 HTTP/1.1\r\nHost: 127.0.0.1:")
    status, _, error = answers[4]
    assert status == 0 and isinstance(error, ConnectionResetError)
