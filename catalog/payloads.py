"""What a request or an answer carries, made the same way on both sides: the CPU loop whose
result a client checks, a /stream answer's chunks and an /upload body with its digest. The
servers produce them, the Locust files and the verifier check them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator


def cpu_work(n: int) -> int:
    """n units of pure-Python CPU work; the result is deterministic so it can be checked."""
    x = 1
    for _ in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
    return x


STREAM_LETTERS = b"abcdefghijklmnopqrstuvwxyz"
STREAM_CONTENT_TYPE = "application/octet-stream"


def stream_chunk(index: int, size: int) -> bytes:
    """Chunk ``index`` of a /stream answer: ``size`` copies of one letter, the next letter for
    the next chunk, so a client can check both the length and the order of what it got."""
    letter = index % len(STREAM_LETTERS)
    return STREAM_LETTERS[letter : letter + 1] * size


def stream_body(chunks: int, size: int) -> bytes:
    """The whole body of /stream?chunks=K&bytes=B."""
    return b"".join(stream_chunk(i, size) for i in range(chunks))


def upload_block(chunk: int) -> bytes:
    """The block an upload client sends over and over (bytes 0..255 repeating): the body of
    an upload of B bytes in chunks of C is B // C blocks and the first B % C bytes of one."""
    return (bytes(range(256)) * (chunk // 256 + 1))[:chunk]


def upload_pieces(total: int, chunk: int, block: bytes | None = None) -> Iterator[memoryview]:
    """The body of an upload, piece by piece, as views of one block: a client holds one
    chunk however large the body."""
    view = memoryview(block if block is not None else upload_block(chunk))
    sent = 0
    while sent < total:
        piece = view[: min(chunk, total - sent)]
        sent += len(piece)
        yield piece


def upload_digest(total: int, chunk: int) -> str:
    """The SHA-256 (hex) an /upload of that body must answer."""
    h = hashlib.sha256()
    for piece in upload_pieces(total, chunk):
        h.update(piece)
    return h.hexdigest()
