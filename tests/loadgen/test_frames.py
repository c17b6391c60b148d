"""Server frames cut from raw reads (loadgen/frames.py): whole messages whatever the reads'
boundaries, every length encoding, fragments joined, control frames between them, and bytes no
server may send refused: a masked frame (RFC 6455, 5.1), a frame or message over the reader's
limit (before its payload is buffered), reserved bits and opcodes; and a client's frames,
masked. websocket-client's own frame builder makes the server's frames, so both sides agree on
RFC 6455 by construction."""

from __future__ import annotations

import pytest
from websocket import ABNF

from loadgen.frames import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    TEXT,
    FrameError,
    FrameReader,
    client_frame,
    close_reason,
    mask,
)


def frame(payload: bytes, opcode: int = TEXT, *, fin: bool = True, mask: bool = False) -> bytes:
    built = ABNF(fin=int(fin), opcode=opcode, mask_value=int(mask), data=payload)
    return built.format()


def read_in_pieces(data: bytes, size: int) -> list[tuple[int, bytes]]:
    reader = FrameReader()
    out = []
    for at in range(0, len(data), size):
        out += reader.feed(data[at : at + size])
    return out


@pytest.mark.parametrize("length", [0, 64, 125, 126, 65_535, 65_536, 70_000])
def test_each_length_encoding_in_one_read(length: int) -> None:
    payload = bytes(range(256)) * (length // 256) + bytes(length % 256)
    assert FrameReader().feed(frame(payload, BINARY)) == [(BINARY, payload)]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1000])
def test_reads_of_any_size_give_the_same_messages(size: int) -> None:
    messages = [b"1 1700000000.000001 " + b"x" * 44, b"y" * 300, b"z" * 70_000]
    stream = b"".join(frame(m) for m in messages)
    assert read_in_pieces(stream, size) == [(TEXT, m) for m in messages]


def test_a_message_is_returned_by_the_read_that_completes_it() -> None:
    reader = FrameReader()
    whole = frame(b"a" * 200) + frame(b"b" * 10)
    assert reader.feed(whole[:150]) == []
    assert reader.feed(whole[150:205]) == [(TEXT, b"a" * 200)]
    assert reader.feed(whole[205:]) == [(TEXT, b"b" * 10)]


def test_fragments_are_joined_and_control_frames_come_between() -> None:
    stream = (
        frame(b"one ", TEXT, fin=False)
        + frame(b"ping!", PING)
        + frame(b"two ", CONTINUATION, fin=False)
        + frame(b"three", CONTINUATION)
        + frame(b"\x03\xe9going away", CLOSE)
    )
    assert read_in_pieces(stream, 5) == [
        (PING, b"ping!"),
        (TEXT, b"one two three"),
        (CLOSE, b"\x03\xe9going away"),
    ]


def test_a_masked_frame_from_the_server_is_refused() -> None:
    payload = b"masked by a peer that should not have"
    with pytest.raises(FrameError, match="masked frame from the server"):
        FrameReader().feed(frame(payload, mask=True))


@pytest.mark.parametrize("length", [100, 126, 70_000])
def test_a_frame_over_the_limit_is_refused_from_its_header(length: int) -> None:
    reader = FrameReader(max_frame_bytes=99)
    whole = frame(b"x" * length, BINARY)
    with pytest.raises(FrameError, match=f"a frame of {length} bytes \\(at most 99\\)"):
        reader.feed(whole[:10])  # the header alone says it


def test_a_fragmented_message_over_the_limit_is_refused() -> None:
    reader = FrameReader(max_frame_bytes=99)
    stream = frame(b"a" * 60, TEXT, fin=False) + frame(b"b" * 60, CONTINUATION)
    with pytest.raises(FrameError, match="a fragmented message over 99 bytes"):
        reader.feed(stream)


def test_a_whole_small_frame_read_alone_takes_the_short_path() -> None:
    reader = FrameReader()
    assert reader.feed(frame(b"hi")) == [(TEXT, b"hi")]
    assert reader.feed(frame(b"", BINARY)) == [(BINARY, b"")]
    # then a frame split over reads still joins
    whole = frame(b"z" * 30)
    assert reader.feed(whole[:5]) + reader.feed(whole[5:]) == [(TEXT, b"z" * 30)]


def test_client_frames_are_masked_and_read_back() -> None:
    for length in (0, 5, 125, 126, 65_535, 65_536):
        payload = bytes(range(256)) * (length // 256) + bytes(length % 256)
        data = client_frame(BINARY, payload, key=b"\x01\x02\x03\x04")
        head = data[1] & 0x7F
        at = 2 + {126: 2, 127: 8}.get(head, 0)
        assert data[1] & 0x80 and data[at : at + 4] == b"\x01\x02\x03\x04"
        assert mask(b"\x01\x02\x03\x04", data[at + 4 :]) == payload


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (bytes([0x80 | 0x40 | TEXT, 1]) + b"x", "reserved bits"),
        (bytes([0x80 | 0x3, 1]) + b"x", "opcode 0x3"),
        (frame(b"x", CONTINUATION), "no message to continue"),
        (frame(b"a", TEXT, fin=False) + frame(b"b", TEXT), "inside a fragmented one"),
        (frame(b"p" * 126, PING), "over 125 bytes"),
        (frame(b"p", PING, fin=False), "fragmented"),
        (bytes([0x80 | BINARY, 127]) + (1 << 40).to_bytes(8, "big"), "a frame of"),
    ],
)
def test_bytes_no_server_may_send_are_refused(data: bytes, problem: str) -> None:
    with pytest.raises(FrameError, match=problem):
        FrameReader().feed(data)


def test_close_reason_in_words() -> None:
    assert close_reason(b"\x03\xf0send backlog over 1048576 bytes") == (
        "closed by the server (1008: send backlog over 1048576 bytes)"
    )
    assert close_reason(b"\x03\xe9") == "closed by the server (1001)"
    assert close_reason(b"") == "closed by the server"


def test_messages_before_bad_bytes_in_the_same_read_are_kept() -> None:
    good = frame(b"1 1700000000.000001 xx")
    with pytest.raises(FrameError, match="reserved bits") as raised:
        FrameReader().feed(good + bytes([0xC1, 1]) + b"x")
    assert raised.value.messages == [(TEXT, b"1 1700000000.000001 xx")]
