"""POST /upload on every variant, buffered and streamed: the right length and SHA-256 for
empty, one-byte, 1 MiB and limit-sized bodies, a 413 above the limit before the body is
sent, and a client that stops mid-body dropped after the body timeout (which grows with the
limit), its memory freed."""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import psutil
import pytest

from catalog.limits import UPLOAD_MODES
from catalog.payloads import upload_digest, upload_pieces
from catalog.strategies import VARIANTS
from harness.cell import CellOptions, run_cell
from harness.placements import choose
from harness.suite.parse import parse_suite
from harness.verify import verify
from record.errors import UserError
from servers.config import BODY_TIMEOUT_S, UPLOAD_MIN_BYTES_PER_S
from tests.conftest import Server
from tests.servers.threaded import served

MIB = 1024 * 1024
LIMIT = 3 * MIB + 7  # not a multiple of the chunk: the last piece is short
CHUNK = 64 * 1024
SIZES = [0, 1, MIB, LIMIT]


def post(base: str, total: int, send: bool = True) -> tuple[int, str, bytes]:
    """POST /upload with Content-Length total; the body piece by piece (send) or not at all."""
    port = int(base.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest("POST", "/upload")
        conn.putheader("Content-Length", str(total))
        conn.endheaders()
        if send:
            for piece in upload_pieces(total, CHUNK):
                conn.send(piece)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize("mode", UPLOAD_MODES)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_upload_answers_length_and_hash_and_413_above_the_limit(variant: str, mode: str) -> None:
    with served(variant, upload=mode, max_upload_bytes=LIMIT, pool_processes=1) as base:
        for size in SIZES:
            status, ctype, body = post(base, size)
            assert status == 200, (size, body)
            assert ctype.startswith("application/json")
            answer = json.loads(body)
            assert (answer["bytes"], answer["mode"]) == (size, mode)
            assert answer["sha256"] == upload_digest(size, CHUNK)
        status, ctype, body = post(base, LIMIT + 1, send=False)
        assert status == 413 and ctype.startswith("text/plain")
        assert body == f"413: the body must be at most {LIMIT} bytes\n".encode()
        # The server goes on serving after a refusal.
        assert post(base, 1)[0] == 200


def test_digest_is_the_sha256_of_the_pieces() -> None:
    body = b"".join(upload_pieces(LIMIT, CHUNK))
    assert len(body) == LIMIT
    assert upload_digest(LIMIT, CHUNK) == hashlib.sha256(body).hexdigest()


@pytest.mark.parametrize("mode", UPLOAD_MODES)
def test_verification_posts_the_body_and_checks_the_413(mode: str) -> None:
    with served("sync", upload=mode, max_upload_bytes=MIB) as base:
        assert verify(base, [f"/upload?bytes={MIB}&chunk={CHUNK}"]) == []
    # A server whose limit is larger than the scenario's body does not refuse one byte more.
    with served("sync", upload=mode, max_upload_bytes=2 * MIB) as base:
        (problem,) = verify(base, [f"/upload?bytes={MIB}&chunk={CHUNK}"])
        assert "expected 413" in problem


def child_rss(proc: psutil.Process) -> int:
    """A child's RSS, 0 once it has exited meanwhile (only the server itself must run)."""
    try:
        return proc.memory_info().rss
    except psutil.Error:
        return 0


def tree_rss(pid: int) -> int:
    proc = psutil.Process(pid)
    return proc.memory_info().rss + sum(child_rss(p) for p in proc.children(recursive=True))


STALLED_LIMIT = 8 * MIB  # the server's limit and the declared body
STALLED_SENT = 4 * MIB  # sent before the client stops
# The body timeout grows with the server's limit (servers/upload.server_body_timeout).
STALLED_TIMEOUT_S = BODY_TIMEOUT_S + STALLED_LIMIT / UPLOAD_MIN_BYTES_PER_S


def stall(srv: Server) -> tuple[float, int, int, int]:
    """Send part of a body, then nothing: (seconds until the server closed the connection,
    server RSS before, while stalled, and after the drop)."""
    idle = tree_rss(srv.child.pid)
    sock = socket.create_connection(("127.0.0.1", srv.port))
    try:
        sock.sendall(
            b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % STALLED_LIMIT
        )
        for piece in upload_pieces(STALLED_SENT, CHUNK):
            sock.sendall(piece)
        stalled_at = time.monotonic()
        time.sleep(1.0)
        held = tree_rss(srv.child.pid)
        sock.settimeout(STALLED_TIMEOUT_S + 10)
        try:
            while sock.recv(4096):
                pass  # a 400 or nothing: the server closes either way
        except ConnectionResetError:
            pass
        dropped_s = time.monotonic() - stalled_at
    finally:
        sock.close()
    time.sleep(0.5)
    return dropped_s, idle, held, tree_rss(srv.child.pid)


# Each waits out the 14 s body timeout: the blocking style in `make test`, the pool and the
# awaiting styles in the slow series (make test-reliability).
@pytest.mark.parametrize(
    "variant",
    [
        "sync",
        pytest.param("threadpool", marks=pytest.mark.slow),
        pytest.param("coroutine", marks=pytest.mark.slow),
    ],
)
def test_a_stalled_upload_is_dropped_after_the_body_timeout_without_leaking(
    server_factory: Callable[..., Server], variant: str
) -> None:
    servers = {
        mode: server_factory(variant, upload=mode, max_upload_bytes=STALLED_LIMIT)
        for mode in UPLOAD_MODES
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(servers, pool.map(stall, servers.values()), strict=True))
    for mode, (dropped_s, idle, held, after) in results.items():
        assert STALLED_TIMEOUT_S - 1 <= dropped_s <= STALLED_TIMEOUT_S + 6, (mode, dropped_s)
        if mode == "buffered":  # Tornado held what had arrived
            assert held - idle > STALLED_SENT // 2, (mode, idle, held)
        else:  # a streamed upload holds about a chunk
            assert held - idle < 4 * MIB, (mode, idle, held)
        assert after - idle < 4 * MIB, (mode, idle, held, after)
        srv = servers[mode]
        assert srv.get("/health")[0] == 200


def test_suite_upload_modes_name_the_cells_and_are_refused_elsewhere() -> None:
    data = {
        "variants": ["sync", "threadpool"],
        "scenarios": [
            {"name": "upload", "params": {"bytes": MIB, "chunk": CHUNK}, "users": [2]},
            {"name": "hello", "users": [2]},
        ],
        "server": {"upload": ["buffered", "streamed"]},
    }
    ids = sorted(c.cell_id for c in parse_suite(data, "t.toml").cells())
    assert "sync+streamed-asyncio-upload-bytes1048576-chunk65536-u2-r1" in ids
    assert "threadpool+buffered-asyncio-upload-bytes1048576-chunk65536-u2-r1" in ids
    assert "sync-asyncio-hello-u2-r1" in ids and len(ids) == 6
    with pytest.raises(UserError, match=r"server\.upload.*upload scenarios"):
        parse_suite({**data, "scenarios": data["scenarios"][1:]}, "t.toml")
    with pytest.raises(UserError, match=r"server\.upload.*buffered, streamed"):
        parse_suite({**data, "server": {"upload": "mmap"}}, "t.toml")


@pytest.mark.parametrize("mode", UPLOAD_MODES)
def test_a_short_real_upload_cell(tmp_path: Path, mode: str) -> None:
    """Locust streams the bodies and checks every answer; the cell records the server's
    memory, which the summary turns into upload_kb_in_flight."""
    suite = parse_suite(
        {
            "name": "t",
            "duration_s": 2,
            "warmup_s": 0,
            "variants": ["coroutine"],
            "server": {"upload": mode},
            "scenarios": [
                {"name": "upload", "params": {"bytes": 4 * MIB, "chunk": CHUNK}, "users": [4]}
            ],
        },
        "t.toml",
    )
    (cell,) = suite.cells()
    record = run_cell(cell, tmp_path, CellOptions(suite, choose("split")))
    assert record.status == "ok", record.reason
    assert record.server_rss_peak_bytes > record.server_rss_idle_bytes > 0
    requests = pd.read_parquet(tmp_path / "requests.parquet")
    assert len(requests) > 4 and requests["ok"].all()
    assert (requests["endpoint"] == "/upload").all()
