"""WebSocket frames from a server, cut from the bytes as they arrive (RFC 6455, section 5.2),
and the frames a client sends.

The project's WebSocket client (loadgen/wsclient.py) reads its socket's bytes itself and
timestamps them the moment they arrive, then cuts them here: websocket-client's recv() parses
a frame in Python before it returns (two reads a frame, a pure-Python UTF-8 check of every
text frame, about 30 microseconds for 64 bytes and 16 ms for 64 KiB). A server's frames are
unmasked, so the common read (one whole small frame) is a two-byte header and a slice.
Without Locust or gevent, so the tests can use it directly.
"""

from __future__ import annotations

import random
import struct

TEXT, BINARY, CONTINUATION = 0x1, 0x2, 0x0
CLOSE, PING, PONG = 0x8, 0x9, 0xA
_DATA = (TEXT, BINARY)
_CONTROL = (CLOSE, PING, PONG)
# The largest frame a reader holds unless told otherwise (a feed message is at most 64 KiB,
# catalog/live.py, and its subscriber says so): a peer announcing more is refused as soon as
# its header arrives, before any of it is buffered.
MAX_FRAME_BYTES = 16 * 1024 * 1024
# A whole small frame read alone: FIN and a data opcode, unmasked, a 7-bit length.
_FAST = (0x80 | TEXT, 0x80 | BINARY)


class FrameError(ValueError):
    """Bytes that are no WebSocket frame a server may send. `messages`: those the same read
    completed before them, which did arrive."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.messages: list[tuple[int, bytes]] = []


class FrameReader:
    """One connection's frames. `feed` takes the bytes of one read and returns every message
    they complete, in order, as (opcode, payload): a data message whole (its fragments
    joined, with its first frame's opcode), a control frame as it came. Bytes of a frame not
    yet complete wait for the next read; bytes that are no frame raise FrameError, carrying
    the messages completed before them."""

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()
        self._fragments: list[bytes] = []
        self._fragmented_opcode = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        if not self._buffer and not self._fragmented_opcode and len(data) >= 2:
            # The common read: one whole unmasked small data frame (its second byte is then
            # its length, under 126, and the mask bit clear).
            length = data[1]
            if length < 126 and len(data) == length + 2 and data[0] in _FAST:
                if length > self.max_frame_bytes:
                    raise FrameError(f"a frame of {length} bytes (at most {self.max_frame_bytes})")
                return [(data[0] & 0x0F, data[2:])]
        self._buffer += data
        out: list[tuple[int, bytes]] = []
        try:
            while (frame := self._next_frame()) is not None:
                message = self._message(*frame)
                if message is not None:
                    out.append(message)
        except FrameError as exc:
            exc.messages = out
            raise
        return out

    def _next_frame(self) -> tuple[bool, int, bytes] | None:
        buf = self._buffer
        if len(buf) < 2:
            return None
        first, second = buf[0], buf[1]
        if first & 0x70:
            raise FrameError("reserved bits set (no extension was agreed)")
        if second & 0x80:
            # RFC 6455, 5.1: a client must close the connection on a masked frame.
            raise FrameError("a masked frame from the server (a server must not mask)")
        length, at = second & 0x7F, 2
        if length == 126:
            if len(buf) < 4:
                return None
            (length,) = struct.unpack_from("!H", buf, 2)
            at = 4
        elif length == 127:
            if len(buf) < 10:
                return None
            (length,) = struct.unpack_from("!Q", buf, 2)
            at = 10
        if length > self.max_frame_bytes:
            raise FrameError(f"a frame of {length} bytes (at most {self.max_frame_bytes})")
        if len(buf) < at + length:
            return None
        payload = bytes(buf[at : at + length])
        del buf[: at + length]
        return bool(first & 0x80), first & 0x0F, payload

    def _message(self, fin: bool, opcode: int, payload: bytes) -> tuple[int, bytes] | None:
        if opcode in _CONTROL:
            if not fin or len(payload) > 125:
                raise FrameError("a control frame fragmented or over 125 bytes")
            return opcode, payload
        if opcode == CONTINUATION:
            if not self._fragmented_opcode:
                raise FrameError("a continuation frame with no message to continue")
            self._fragments.append(payload)
            if sum(map(len, self._fragments)) > self.max_frame_bytes:
                raise FrameError(f"a fragmented message over {self.max_frame_bytes} bytes")
            if not fin:
                return None
            opcode, payload = self._fragmented_opcode, b"".join(self._fragments)
            self._fragments, self._fragmented_opcode = [], 0
            return opcode, payload
        if opcode not in _DATA:
            raise FrameError(f"opcode {opcode:#x}")
        if self._fragmented_opcode:
            raise FrameError("a new message inside a fragmented one")
        if fin:
            return opcode, payload
        self._fragments, self._fragmented_opcode = [payload], opcode
        return None


def mask(key: bytes, payload: bytes) -> bytes:
    """`payload` XORed with the 4-byte `key` repeated (masking and unmasking alike)."""
    if not payload:
        return payload
    whole = (key * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(whole, "big")).to_bytes(
        len(payload), "big"
    )


def client_frame(opcode: int, payload: bytes, key: bytes | None = None) -> bytes:
    """One whole frame as a client sends it (RFC 6455, 5.2): FIN set, masked with `key` (4
    bytes; a fresh random one when None, as 5.3 asks of each frame)."""
    if key is None:
        key = random.getrandbits(32).to_bytes(4, "big")
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + key + mask(key, payload)


def close_reason(payload: bytes) -> str:
    """A close frame's status code and reason, as words."""
    if len(payload) < 2:
        return "closed by the server"
    (code,) = struct.unpack_from("!H", payload)
    reason = payload[2:].decode("utf-8", "replace")
    return f"closed by the server ({code}{': ' + reason if reason else ''})"
