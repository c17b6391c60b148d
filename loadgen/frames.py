"""WebSocket frames from a server, cut from the bytes as they arrive (RFC 6455, section 5.2).

The feed scenario reads its socket's bytes itself and timestamps them the moment they arrive,
then parses them later (loadgen/later.py): websocket-client's recv() parses a frame in Python
before it returns (two reads a frame, a pure-Python UTF-8 check of every text frame, about
30 microseconds for 64 bytes and 16 ms for 64 KiB), and with a thousand subscribers woken
by one broadcast that work, done before each next subscriber's read, was the delivery
latency's tail. Without Locust or gevent, so the tests can use it directly.
"""

from __future__ import annotations

import struct

TEXT, BINARY, CONTINUATION = 0x1, 0x2, 0x0
CLOSE, PING, PONG = 0x8, 0x9, 0xA
_DATA = (TEXT, BINARY)
_CONTROL = (CLOSE, PING, PONG)
# The largest frame this reader holds: a feed message is at most 64 KiB (catalog/live.py);
# a peer announcing more is not a feed.
MAX_FRAME_BYTES = 16 * 1024 * 1024


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

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._fragments: list[bytes] = []
        self._fragmented_opcode = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
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
        if length > MAX_FRAME_BYTES:
            raise FrameError(f"a frame of {length} bytes")
        masked = bool(second & 0x80)
        key = b""
        if masked:  # a server must not mask; unmasked anyway, as websocket-client does
            if len(buf) < at + 4:
                return None
            key, at = bytes(buf[at : at + 4]), at + 4
        if len(buf) < at + length:
            return None
        payload = bytes(buf[at : at + length])
        del buf[: at + length]
        if masked:
            payload = _unmask(key, payload)
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


def _unmask(key: bytes, payload: bytes) -> bytes:
    whole = (key * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(whole, "big")).to_bytes(
        len(payload), "big"
    )


def close_reason(payload: bytes) -> str:
    """A close frame's status code and reason, as words."""
    if len(payload) < 2:
        return "closed by the server"
    (code,) = struct.unpack_from("!H", payload)
    reason = payload[2:].decode("utf-8", "replace")
    return f"closed by the server ({code}{': ' + reason if reason else ''})"
