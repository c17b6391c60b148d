"""The project's WebSocket client (RFC 6455), made for holding many connections: a connection
is a socket watched by the hub (loadgen/held.py), not a greenlet; its handshake's bytes are
built once per endpoint; a server's frames arrive unmasked, so a read is a header and a slice
(loadgen/frames.py); messages are stamped as their bytes come off the socket.

    client = WebSocketClient("ws://127.0.0.1:8888/ws/echo?ms=0", on_message=...)
    client.connect(timeout=10)         # blocks only the calling greenlet; raises on failure
    client.send(b"hello")              # never blocks; masked as RFC 6455 asks of a client
    client.receive(timeout=5)          # without on_message: the next message
    client.close()

Receiving happens off the caller's greenlet: the hub reads and stamps, this process's one
dispatcher greenlet cuts the bytes into messages and calls `on_message(client, opcode,
payload, arrived)`, `arrived` being the epoch time the message's last bytes were read (a
message's latency is `arrived` minus a send time the message carries: `stamped` / `sent_at`
write and read one). Without `on_message`, messages wait for `receive()`. `open()` starts
connecting without waiting (`on_open(client, error)` says how it went): how a Locust process
opens ten thousand connections at a spawn rate without a greenlet each
(loadgen/held_user.py).

Refused, each with a clear error and the connection closed (the process goes on): a
handshake that is not a 101 with the right Sec-WebSocket-Accept (HandshakeError), a masked
frame from the server, a frame larger than `max_message_bytes`, reserved bits or opcodes
(FrameError). The handshake's Sec-WebSocket-Key is made once per process (RFC 6455 asks for a
fresh nonce per connection; its purpose, proving the server speaks WebSocket, is served as
well by one the server has not seen, and the whole handshake is then one constant).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from gevent.event import AsyncResult, Event

from loadgen.frames import (
    BINARY,
    CLOSE,
    MAX_FRAME_BYTES,
    PING,
    PONG,
    TEXT,
    FrameError,
    FrameReader,
    client_frame,
    close_reason,
)
from loadgen.held import OPEN, HeldSocket

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, 1.3
KEY = base64.b64encode(os.urandom(16))
ACCEPT = base64.b64encode(hashlib.sha1(KEY + GUID).digest())
# The longest handshake answer read: a server sending more is no WebSocket server.
HANDSHAKE_MAX_BYTES = 16_384
CONNECT_TIMEOUT_S = 30.0
NORMAL_CLOSE = 1000

OnMessage = Callable[["WebSocketClient", int, bytes, float], None]
OnOpen = Callable[["WebSocketClient", BaseException | None], None]
OnClose = Callable[["WebSocketClient", BaseException, float], None]


class HandshakeError(Exception):
    """The server's answer to the handshake was not a WebSocket's."""


class ConnectionEnded(ConnectionError):
    """The server closed the connection (its close frame's code and reason in the message)."""


@dataclass(frozen=True)
class Endpoint:
    """Where a client connects and the handshake it sends there, built once."""

    host: str
    port: int
    path: str
    handshake: bytes

    @classmethod
    def of(cls, url: str) -> Endpoint:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "http"):
            raise ValueError(f"{url!r}: ws:// only (no TLS)")
        host = parts.hostname or "127.0.0.1"
        port = parts.port or 80
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        shown = f"[{host}]" if ":" in host else host
        host_header = shown if port == 80 else f"{shown}:{port}"
        handshake = (
            f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "
        ).encode("ascii")
        return cls(host, port, path, handshake + KEY + b"\r\n\r\n")


def check_handshake(head: bytes, accept: bytes = ACCEPT) -> None:
    """Raise HandshakeError unless `head` (the answer up to its blank line) accepts the
    upgrade: a 101, Upgrade: websocket, Connection: upgrade and the key's answer."""
    status = head.split(b"\r\n", 1)[0]
    if not status.startswith(b"HTTP/1.1 101"):
        shown = status[:60].decode("latin-1")
        raise HandshakeError(f"the server answered {shown!r}, not 101 Switching Protocols")
    fields: dict[bytes, bytes] = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        fields[name.strip().lower()] = value.strip()
    if fields.get(b"upgrade", b"").lower() != b"websocket":
        raise HandshakeError("the 101 has no Upgrade: websocket")
    if b"upgrade" not in fields.get(b"connection", b"").lower():
        raise HandshakeError("the 101 has no Connection: upgrade")
    got = fields.get(b"sec-websocket-accept", b"")
    if got != accept:
        raise HandshakeError(
            f"Sec-WebSocket-Accept is {got.decode('latin-1')!r}, expected {accept.decode()!r}"
        )


def stamped(payload: bytes, at: float | None = None) -> bytes:
    """`payload` carrying its send time (`at`, epoch seconds; now when None) in front:
    b"1700000000.123456 " + payload. The receiver's latency is `arrived - sent_at(message)`."""
    return b"%.6f " % (time.time() if at is None else at) + payload


def sent_at(message: bytes) -> float:
    """The send time `stamped` put in front of a message; ValueError for any other message."""
    return float(message[: message.index(b" ")])


class WebSocketClient(HeldSocket):
    """One client WebSocket (see the module's text). Callbacks run on this process's
    dispatcher greenlet: they may record, send or block briefly, and every other connection's
    messages wait meanwhile."""

    __slots__ = (
        "_head",
        "_inbox",
        "_inbox_event",
        "_waiter",
        "endpoint",
        "handshaking",
        "on_close",
        "on_message",
        "on_open",
        "opened_ms",
        "reader",
    )

    def __init__(
        self,
        url: str | Endpoint,
        *,
        on_message: OnMessage | None = None,
        on_open: OnOpen | None = None,
        on_close: OnClose | None = None,
        max_message_bytes: int = MAX_FRAME_BYTES,
        source: str | None = None,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        silence_s: float | None = None,
    ) -> None:
        self.endpoint = url if isinstance(url, Endpoint) else Endpoint.of(url)
        super().__init__(
            self.endpoint.host,
            self.endpoint.port,
            source=source,
            connect_timeout_s=connect_timeout_s,
            silence_s=silence_s,
        )
        self.on_message = on_message
        self.on_open = on_open
        self.on_close = on_close
        self.reader = FrameReader(max_message_bytes)
        self.handshaking = False
        self._head = b""
        self._inbox: deque[tuple[int, bytes, float]] | None = None
        self._inbox_event: Event | None = None
        self._waiter: AsyncResult | None = None
        self.opened_ms = float("nan")  # the last handshake's time to its 101

    # --- the caller's side -----------------------------------------------------------------

    def open(self) -> None:
        """Start connecting; `on_open` says how it went (from the dispatcher greenlet)."""
        self.reader = FrameReader(self.reader.max_frame_bytes)
        self.handshaking, self._head = True, b""
        super().open()

    def connect(self, timeout: float | None = CONNECT_TIMEOUT_S) -> float:
        """Open and wait (this greenlet only) for the handshake: its time in ms. Raises what
        failed it (OSError, HandshakeError, TimeoutError)."""
        waiter = self._waiter = AsyncResult()
        self.open()
        try:
            error = waiter.get(timeout=timeout)
        except Exception:  # gevent's Timeout: give up this connection
            self.close()
            raise TimeoutError(f"no handshake in {timeout:g} s") from None
        finally:
            self._waiter = None
        if error is not None:
            raise error
        return self.opened_ms

    def send(self, data: bytes | str, opcode: int | None = None) -> None:
        """One message (text for str, binary for bytes unless `opcode` says), never blocking."""
        if isinstance(data, str):
            payload, kind = data.encode("utf-8"), TEXT
        else:
            payload, kind = data, BINARY
        if self.state != OPEN or self.handshaking:
            raise ConnectionResetError("the WebSocket is not open")
        self.write(client_frame(opcode if opcode is not None else kind, payload))

    def receive(self, timeout: float | None = None) -> bytes:
        """The next message (without `on_message`): waits on this greenlet; raises
        TimeoutError, or the error that ended the connection."""
        if self._inbox is None:
            self._inbox, self._inbox_event = deque(), Event()
        inbox, event = self._inbox, self._inbox_event
        assert event is not None
        while not inbox:
            if self.sock is None:
                raise ConnectionResetError("the WebSocket is closed")
            event.clear()
            if not event.wait(timeout):
                raise TimeoutError(f"no message in {timeout:g} s")
        opcode, payload, _ = inbox.popleft()
        if opcode < 0:  # the connection's end, queued in order after its messages
            raise ConnectionEnded(payload.decode("utf-8", "replace"))
        return payload

    def close(self, code: int = NORMAL_CLOSE) -> None:
        """Say goodbye (a close frame, best effort) and close the socket. No on_close."""
        if self.sock is not None and self.state == OPEN and not self.handshaking:
            with contextlib.suppress(OSError):
                self.write(client_frame(CLOSE, struct.pack("!H", code)))
        self.release()
        if self._inbox_event is not None:
            self._inbox_event.set()

    # --- the dispatcher's side ------------------------------------------------------------

    def connected(self, at: float) -> None:
        self.write(self.endpoint.handshake)

    def received(self, data: bytes, at: float) -> None:
        if self.handshaking:
            data = self._handshake(data, at)
            if not data:
                return
        try:
            messages = self.reader.feed(data)
        except FrameError as exc:  # what came before the bad bytes still counts
            for opcode, payload in exc.messages:
                self._message(opcode, payload, at)
            if self.sock is not None:
                self.fail(exc, at)
            return
        for opcode, payload in messages:
            self._message(opcode, payload, at)

    def _handshake(self, data: bytes, at: float) -> bytes:
        """Take the answer's bytes; the bytes past its head (frames already) once whole."""
        head = self._head + data
        end = head.find(b"\r\n\r\n")
        if end < 0:
            if len(head) > HANDSHAKE_MAX_BYTES:
                self._opened(HandshakeError("a handshake answer without end"), at)
            else:
                self._head = head
            return b""
        self._head = b""
        try:
            check_handshake(head[:end])
        except HandshakeError as exc:
            self._opened(exc, at)
            return b""
        self._opened(None, at)
        return head[end + 4 :] if self.sock is not None else b""

    def _opened(self, error: BaseException | None, at: float) -> None:
        self.handshaking = False
        self.opening_done()
        self.opened_ms = (at - self.started_at) * 1000.0
        if error is not None:
            self.release()
        if self._waiter is not None:
            self._waiter.set(error)
        if self.on_open is not None:
            self.on_open(self, error)

    def _message(self, opcode: int, payload: bytes, at: float) -> None:
        if opcode in (TEXT, BINARY):
            if self.on_message is not None:
                self.on_message(self, opcode, payload, at)
            else:
                self._queue(opcode, payload, at)
        elif opcode == PING:
            if self.sock is not None:
                self.write(client_frame(PONG, payload))
        elif opcode == CLOSE:
            self.fail(ConnectionEnded(close_reason(payload)), at)

    def _queue(self, opcode: int, payload: bytes, at: float) -> None:
        if self._inbox is None:
            self._inbox, self._inbox_event = deque(), Event()
        self._inbox.append((opcode, payload, at))
        assert self._inbox_event is not None
        self._inbox_event.set()

    def ended(self, exc: BaseException, at: float) -> None:
        if self.handshaking:  # refused, reset or timed out before the 101
            self._opened(exc, at)
            return
        if self.on_close is not None:
            self.on_close(self, exc, at)
        elif self._inbox is not None or self.on_message is None:
            self._queue(-1, str(exc).encode("utf-8"), at)


def endpoint_for(base_url: str, path: str) -> Endpoint:
    """A Locust --host (http://host:port) and a path, as a WebSocket endpoint."""
    return Endpoint.of("ws" + base_url.removeprefix("http").rstrip("/") + path)
