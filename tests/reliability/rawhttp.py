"""Raw HTTP over plain sockets, for the reliability attacks: bytes in, statuses out.

Everything here talks only to 127.0.0.1, uses short timeouts, and closes every socket it
opens (a leaked socket is a ResourceWarning, which this suite treats as an error)."""

from __future__ import annotations

import contextlib
import re
import socket
import time
from dataclasses import dataclass, field

LOOPBACK = "127.0.0.1"
SOCKET_TIMEOUT_S = 2.0
READ_LIMIT = 4 * 1024 * 1024  # never buffer more than this from one connection

# Unanchored: a pipelined response follows the previous body directly (no CRLF between), and
# no body these servers send contains a status line.
_STATUS = re.compile(rb"HTTP/1\.[01] (\d{3})[ \r]")


@dataclass
class Exchange:
    """What one raw connection got back."""

    statuses: list[int] = field(default_factory=list)
    seconds: float = 0.0
    dropped: bool = False  # the server closed (or reset) the connection
    timed_out: bool = False  # nothing more came for SOCKET_TIMEOUT_S and the socket stayed open
    send_error: str = ""  # the server closed before it took every byte (fine for junk)
    raw: bytes = b""

    @property
    def first(self) -> int | None:
        return self.statuses[0] if self.statuses else None


def statuses_in(data: bytes) -> list[int]:
    """Every response status in data (responses pipelined one after another)."""
    return [int(m.group(1)) for m in _STATUS.finditer(data)]


def exchange(
    port: int,
    payload: bytes | list[bytes],
    *,
    half_close: bool = False,
    timeout: float = SOCKET_TIMEOUT_S,
    expect: int | None = None,
) -> Exchange:
    """Connect to 127.0.0.1:port, send payload (a list is sent piece by piece), optionally
    shut the write side (the server then sees EOF: an incomplete request cannot keep the
    connection waiting), read until the server closes, `expect` responses have arrived, or
    nothing comes for `timeout` seconds."""
    pieces = [payload] if isinstance(payload, bytes) else payload
    out = Exchange()
    started = time.monotonic()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((LOOPBACK, port))
        try:
            for piece in pieces:
                sock.sendall(piece)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            out.send_error = type(exc).__name__
        buf = bytearray()
        while len(buf) < READ_LIMIT:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                out.timed_out = True
                break
            except OSError:
                out.dropped = True
                break
            if not chunk:
                out.dropped = True
                break
            buf += chunk
            if expect is not None and _complete(bytes(buf), expect):
                break
        out.raw = bytes(buf)
        out.statuses = statuses_in(out.raw)
    finally:
        # SO_LINGER 0 is not used: a normal close, so the server sees an orderly EOF.
        with contextlib.suppress(OSError):
            sock.close()
    out.seconds = time.monotonic() - started
    return out


def _complete(data: bytes, responses: int) -> bool:
    """True once `responses` whole responses with Content-Length bodies are in data."""
    pos = 0
    for _ in range(responses):
        head_end = data.find(b"\r\n\r\n", pos)
        if head_end < 0:
            return False
        head = data[pos:head_end].lower()
        m = re.search(rb"\r\ncontent-length: *(\d+)", head)
        length = int(m.group(1)) if m else 0
        pos = head_end + 4 + length
        if pos > len(data):
            return False
    return True


def request(
    method: str,
    target: str | bytes,
    *,
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    close: bool = True,
    version: str = "HTTP/1.1",
) -> bytes:
    """A well-formed request as bytes (the attack cases then break what they need to)."""
    tgt = target if isinstance(target, bytes) else target.encode("latin-1")
    lines = [method.encode("latin-1") + b" " + tgt + b" " + version.encode()]
    lines.append(b"Host: 127.0.0.1")
    for name, value in headers or []:
        lines.append(f"{name}: {value}".encode("latin-1"))
    if body and not any(
        n.lower() in ("content-length", "transfer-encoding") for n, _ in headers or []
    ):
        lines.append(f"Content-Length: {len(body)}".encode())
    if close:
        lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def get_status(port: int, path: str, timeout: float = SOCKET_TIMEOUT_S) -> tuple[int | None, float]:
    """GET path on a fresh connection: (status or None, seconds)."""
    ex = exchange(port, request("GET", path), timeout=timeout, expect=1)
    return ex.first, ex.seconds
