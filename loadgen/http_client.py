"""A lean HTTP/1.1 client for the built-in scenarios: one keep-alive connection per user, its
request bytes built once per path, its answer read as one head and a body cut by
Content-Length (or chunked, or until the server closes), and nothing else.

Why not Locust's FastHttpUser (geventhttpclient's UserAgent): per `/hello` request it built a
URL object, a request object, a header dictionary and a cookie jar pass, parsed the answer's
every header with a callback parser, and wrapped the answer twice; py-spy on a quick-suite
cell showed two thirds of the generator's CPU there, and the generator spent as much CPU per
request as the server it measured (0.17 ms against the server's 0.16-0.19 ms on this 2-core
machine). A bare gevent loop of send and recv on the same socket costs 0.04 ms: what is
left between the two is the code below.

Without Locust, so the tests can drive it against a scripted server; sockets come from the
`socket` module, which Locust's gevent monkey-patching makes cooperative.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

# One read: most answers of the built-in workloads (a few hundred bytes; 17 KB for
# TechEmpower's 500 rows) arrive in one.
READ_BYTES = 65_536
# The longest head an answer may have: a server sending more is no server of ours.
HEAD_MAX_BYTES = 65_536
# The largest body the client keeps (the /stream and /upload scenarios stay on FastHttpUser;
# the largest answer a built-in workload here sends is well under a megabyte).
BODY_MAX_BYTES = 64 * 1024 * 1024
USER_AGENT = b"tornado-bench"
CRLF2 = b"\r\n\r\n"


class HttpProtocolError(Exception):
    """An answer that is no HTTP/1.1 answer this client can read: the connection is closed,
    the request recorded as failed with this message."""


class ConnectionClosed(ConnectionError):
    """The server closed the connection before its answer was complete."""


@dataclass(frozen=True)
class Target:
    """Where the requests go: host, port and the Host header, parsed from Locust's --host once
    per user. A numeric host is connected to directly (no resolver: gevent's resolver runs in
    a thread pool and costs milliseconds per connection under load)."""

    host: str
    port: int
    host_header: bytes

    @classmethod
    def of(cls, base_url: str) -> Target:
        parts = urlsplit(base_url or "")
        if parts.scheme not in ("http", ""):
            raise ValueError(f"{base_url!r}: the lean client speaks plain http only")
        host = parts.hostname or "127.0.0.1"
        port = parts.port or 80
        header = host if port == 80 else f"{host}:{port}"
        if ":" in host:
            header = f"[{host}]" if port == 80 else f"[{host}]:{port}"
        return cls(host, port, header.encode("ascii"))

    @property
    def numeric(self) -> bool:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True


def request_bytes(method: str, path: str, target: Target) -> bytes:
    """A body-less request, built once per (method, path) and sent as is every time."""
    if not path.startswith("/") or any(c in path for c in " \r\n"):
        raise ValueError(f"{path!r}: a request path starts with / and has no spaces or breaks")
    return (
        f"{method} {path} HTTP/1.1\r\n".encode("ascii")
        + b"Host: "
        + target.host_header
        + b"\r\nUser-Agent: "
        + USER_AGENT
        + CRLF2
    )


@dataclass(frozen=True)
class Head:
    """An answer's status and its raw head (the header lines, parsed only when asked)."""

    status: int
    raw: bytes

    def headers(self) -> dict[str, str]:
        """The header lines as a dictionary with lower-case names (the last of a repeated
        one wins)."""
        out: dict[str, str] = {}
        for line in self.raw.split(b"\r\n")[1:]:
            name, sep, value = line.partition(b":")
            if sep:
                out[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        return out


def parse_head(raw: bytes) -> tuple[int, int | None, bool, bool]:
    """(status, content length or None, chunked, keep-alive) of an answer's head (without
    its final blank line). Only the three headers that decide where the body ends are read."""
    if not raw.startswith(b"HTTP/1.") or len(raw) < 12 or raw[12:13] not in (b" ", b"\r", b""):
        raise HttpProtocolError(f"not an HTTP/1.x status line: {raw[:40]!r}")
    try:
        status = int(raw[9:12])
    except ValueError:
        raise HttpProtocolError(f"bad status code: {raw[:40]!r}") from None
    lower = raw.lower()
    length: int | None = None
    text = _value(lower, b"\r\ncontent-length:")
    if text is not None:
        try:
            length = int(text)
        except ValueError:
            raise HttpProtocolError("bad Content-Length") from None
        if length < 0:
            raise HttpProtocolError("negative Content-Length")
    chunked = (_value(lower, b"\r\ntransfer-encoding:") or b"").endswith(b"chunked")
    connection = _value(lower, b"\r\nconnection:")
    keep = connection == b"keep-alive" if raw.startswith(b"HTTP/1.0") else connection != b"close"
    return status, length, chunked, keep


def _value(lower: bytes, name: bytes) -> bytes | None:
    """A header's value in a lower-cased head (`name` with its leading CRLF and colon), None
    when absent."""
    at = lower.find(name)
    if at < 0:
        return None
    end = lower.find(b"\r\n", at + len(name))
    return lower[at + len(name) : end if end >= 0 else None].strip()


class Connection:
    """One keep-alive connection, opened on first use and again after any failure. Not
    shared between greenlets: each user has its own."""

    __slots__ = ("_rest", "connect_timeout_s", "sock", "target", "timeout_s")

    def __init__(self, target: Target, *, timeout_s: float, connect_timeout_s: float) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.sock: socket.socket | None = None
        self._rest = b""  # bytes past the last answer (none from a well-behaved server)

    def _open(self) -> socket.socket:
        target = self.target
        if target.numeric:
            family = socket.AF_INET6 if ":" in target.host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(self.connect_timeout_s)
                sock.connect((target.host, target.port))
            except OSError:
                sock.close()
                raise
        else:
            sock = socket.create_connection((target.host, target.port), self.connect_timeout_s)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self.timeout_s)
        self.sock, self._rest = sock, b""
        return sock

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()

    def exchange(self, request: bytes) -> tuple[Head, bytes]:
        """Send one request and read its whole answer: (head, body). Any error closes the
        connection (the next exchange opens a new one) and is raised."""
        sock = self.sock or self._open()
        try:
            # send, not sendall: gevent's sendall asks the kernel for the socket's buffer size
            # on every call (a getsockopt, 3 % of the generator's CPU on /hello); a request
            # of a few hundred bytes leaves in one send.
            sent = sock.send(request)
            if sent < len(request):
                sock.sendall(request[sent:])
            head, body, keep = self._answer(sock)
        except BaseException:
            self.close()
            raise
        if not keep:
            self.close()
        return head, body

    def _answer(self, sock: socket.socket) -> tuple[Head, bytes, bool]:
        data = self._rest or sock.recv(READ_BYTES)
        while True:
            end = data.find(CRLF2)
            if end >= 0:
                break
            if not data:
                raise ConnectionClosed("the server closed the connection before answering")
            if len(data) > HEAD_MAX_BYTES:
                raise HttpProtocolError(f"an answer's head over {HEAD_MAX_BYTES} bytes")
            more = sock.recv(READ_BYTES)
            if not more:
                raise ConnectionClosed("the server closed the connection mid-head")
            data += more
        raw = data[:end]
        status, length, chunked, keep = parse_head(raw)
        rest = data[end + 4 :]
        if chunked:
            body, rest = _chunked(sock, rest)
        elif length is not None:
            if length > BODY_MAX_BYTES:
                raise HttpProtocolError(f"a body of {length} bytes")
            while len(rest) < length:
                more = sock.recv(max(READ_BYTES, length - len(rest)))
                if not more:
                    raise ConnectionClosed("the server closed the connection mid-body")
                rest += more
            body, rest = rest[:length], rest[length:]
        elif status in (204, 304) or 100 <= status < 200:
            body = b""
        else:  # no length: the body ends when the server closes
            parts = [rest]
            while more := sock.recv(READ_BYTES):
                parts.append(more)
            body, rest, keep = b"".join(parts), b"", False
        self._rest = rest
        return Head(status, raw), body, keep


def _chunked(sock: socket.socket, data: bytes) -> tuple[bytes, bytes]:
    """A chunked body (RFC 9112, 7.1) from `data` and what more the socket gives: (body,
    bytes past it). Trailers are read and dropped."""
    parts: list[bytes] = []
    total = 0
    while True:
        while (line_end := data.find(b"\r\n")) < 0:
            data += _more(sock)
        size_text = data[:line_end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise HttpProtocolError(f"bad chunk size {size_text[:20]!r}") from None
        total += size
        if total > BODY_MAX_BYTES:
            raise HttpProtocolError(f"a chunked body over {BODY_MAX_BYTES} bytes")
        data = data[line_end + 2 :]
        if size == 0:
            while (end := data.find(b"\r\n")) != 0:  # trailers, then the blank line
                if end < 0:
                    data += _more(sock)
                else:
                    data = data[end + 2 :]
            return b"".join(parts), data[2:]
        while len(data) < size + 2:
            data += _more(sock)
        parts.append(data[:size])
        if data[size : size + 2] != b"\r\n":
            raise HttpProtocolError("a chunk not followed by CRLF")
        data = data[size + 2 :]


def _more(sock: socket.socket) -> bytes:
    more = sock.recv(READ_BYTES)
    if not more:
        raise ConnectionClosed("the server closed the connection mid-body")
    return more
