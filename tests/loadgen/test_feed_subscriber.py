"""The feed's subscriber (scenarios/ws_feed.py on loadgen/held_user.py) in a real Locust process
against a scripted WebSocket server in this process (plain sockets, no Tornado): a message
split across two writes is stamped when its last byte arrives, a ping is answered, a close
frame is one failed record naming the server's code and reason, and the user opens a new
connection after it; bytes that are no frame are one failed record too."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from catalog.live import feed_message

ROOT = Path(__file__).resolve().parents[2]
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455's
SIZE = 64
SPLIT_PAUSE_S = 0.3  # between the two halves of the split message
RUN_TIMEOUT_S = 120
Script = Callable[[socket.socket], None]


def frame(payload: bytes, opcode: int = 0x1) -> bytes:
    assert len(payload) < 126
    return bytes([0x80 | opcode, len(payload)]) + payload


def read_client_frame(conn: socket.socket) -> tuple[int, bytes]:
    """One masked frame from the client (a pong here)."""
    head = conn.recv(2, socket.MSG_WAITALL)
    length = head[1] & 0x7F
    key = conn.recv(4, socket.MSG_WAITALL)
    data = conn.recv(length, socket.MSG_WAITALL) if length else b""
    return head[0] & 0x0F, bytes(b ^ key[i % 4] for i, b in enumerate(data))


class ScriptedServer:
    """Answers each WebSocket handshake, then runs the next script on the connection (the
    connections after the scripts are held open, silent, until the test ends)."""

    def __init__(self, scripts: list[Script]) -> None:
        self.scripts = scripts
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed by the test
            self.held.append(conn)
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            key = next(
                line.split(b":", 1)[1].strip()
                for line in request.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key")
            )
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            script = (
                self.scripts[self.connections] if self.connections < len(self.scripts) else None
            )
            self.connections += 1
            if script is not None:
                threading.Thread(target=script, args=(conn,), daemon=True).start()

    def close(self) -> None:
        self.listener.close()
        for conn in self.held:
            conn.close()


@contextmanager
def serving(scripts: list[Script]) -> Iterator[ScriptedServer]:
    server = ScriptedServer(scripts)
    try:
        yield server
    finally:
        server.close()


def run_feed(out: Path, port: int) -> pd.DataFrame:
    """One feed user against the port for a 2.5 s window; every record, window or not."""
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        f"{ROOT / 'scenarios' / 'ws_feed.py'},{ROOT / 'loadgen' / 'locust_plugin.py'}",
        "--headless",
        "--users",
        "1",
        "--spawn-rate",
        "10",
        "--run-time",
        "30s",
        "--host",
        f"http://127.0.0.1:{port}",
        "--only-summary",
        "--stop-timeout",
        "0",
        "--exit-code-on-error",
        "0",
        "--loglevel",
        "WARNING",
        "--csv",
        str(out / "locust"),
        "--bench-out",
        str(out),
        "--bench-duration",
        "2.5",
        "--bench-tail",
        "0.1",
        "--interval_ms",
        "1000",
        "--bytes",
        str(SIZE),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with (out / "locust.log").open("wb") as log:
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        proc.wait(timeout=RUN_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, (out / "locust.log").read_text()
    frames = [pd.read_parquet(out / n) for n in ("requests.parquet", "outside.parquet")]
    return pd.concat(frames).sort_values("start", ignore_index=True)


def test_messages_ping_and_close(tmp_path: Path) -> None:
    sent: list[float] = []
    pongs: list[bytes] = []

    def script(conn: socket.socket) -> None:
        time.sleep(0.3)
        for seq in (1, 2):
            sent.append(time.time())
            conn.sendall(frame(feed_message(seq, sent[-1], SIZE).encode()))
        sent.append(time.time())
        split = frame(feed_message(3, sent[-1], SIZE).encode())
        conn.sendall(split[:20])
        time.sleep(SPLIT_PAUSE_S)
        conn.sendall(split[20:])
        conn.sendall(frame(b"are you there", 0x9))
        opcode, payload = read_client_frame(conn)
        if opcode == 0xA:
            pongs.append(payload)
        conn.sendall(frame(struct.pack("!H", 1008) + b"send backlog over 1048576 bytes", 0x8))

    with serving([script]) as server:
        rows = run_feed(tmp_path, server.port)
        connections = server.connections
    messages = rows[rows["endpoint"] == "/ws/feed"]
    delivered = messages[messages["ok"]]
    assert len(delivered) == 3 and (delivered["bytes"] == SIZE).all()
    assert list(delivered["start"]) == pytest.approx(sent, abs=1e-6)
    # The split message is stamped when its second half came, not its first.
    assert delivered["latency_ms"].iloc[2] >= SPLIT_PAUSE_S * 1000
    assert (delivered["latency_ms"].iloc[:2] < SPLIT_PAUSE_S * 1000).all()
    assert pongs == [b"are you there"]
    # The close: one failed record; then the user connected again.
    assert len(messages[~messages["ok"]]) == 1
    failures = pd.read_csv(tmp_path / "locust_failures.csv")
    assert failures["Error"].str.contains(r"closed by the server \(1008: send backlog").any()
    connects = rows[rows["endpoint"] == "/ws/feed:connect"]
    assert connections >= 2 and len(connects) == connections and connects["ok"].all()


def test_bytes_that_are_no_frame_are_one_failed_record(tmp_path: Path) -> None:
    def script(conn: socket.socket) -> None:
        time.sleep(0.3)
        conn.sendall(frame(feed_message(1, time.time(), SIZE).encode()))
        conn.sendall(bytes([0xC1, 3]) + b"abc")  # reserved bits: no extension was agreed

    with serving([script]) as server:
        rows = run_feed(tmp_path, server.port)
    messages = rows[rows["endpoint"] == "/ws/feed"]
    # The message that came before them in the same read counts; the failed record starts
    # when that read began.
    assert sorted(messages["ok"]) == [False, True]
    failures = pd.read_csv(tmp_path / "locust_failures.csv")
    assert failures["Error"].str.contains("reserved bits").any()
