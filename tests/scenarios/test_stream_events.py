"""scenarios/stream.py under a real Locust: one request event per request the server served,
each carrying its time to first byte (context ttfb_ms) below its total time."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado import web

from catalog.server_config import ServerConfig
from servers.handlers import release
from servers.registry import make_app
from tests.servers.inprocess import ServerThread

ROOT = Path(__file__).resolve().parents[2]
CHUNKS, SIZE, GAP_MS = 4, 2000, 50
USERS = 2

# Stands in for the bench plugin: declares --ms (the plugin's option) and writes every
# request event Locust fires to a JSON file as it quits.
LISTENER = """
import json
from pathlib import Path

from locust import events

RECORDS = []


@events.init_command_line_parser.add_listener
def options(parser):
    parser.add_argument("--ms", type=int, default=0)
    parser.add_argument("--events-out", default="")


@events.request.add_listener
def on_request(name, response_time, response_length, exception=None, context=None, **_):
    context = context or {}
    RECORDS.append(
        {
            "name": name,
            "response_time": response_time,
            "length": response_length,
            "ok": exception is None,
            "error": str(exception) if exception else "",
            "ttfb_ms": context.get("ttfb_ms"),
        }
    )


@events.quitting.add_listener
def write(environment, **_):
    Path(environment.parsed_options.events_out).write_text(json.dumps(RECORDS))
"""


class Counted:
    def __init__(self) -> None:
        self.finished: list[str] = []
        self.apps: list[web.Application] = []

    def make_app(self) -> web.Application:
        app = make_app(ServerConfig(variant="coroutine"))
        # Called once for each finished request, on the server's thread.
        app.settings["log_function"] = lambda handler: self.finished.append(handler.request.path)
        self.apps.append(app)
        return app


@pytest.fixture
def counted_server() -> Iterator[tuple[str, Counted]]:
    counted = Counted()
    try:
        with ServerThread(counted.make_app) as srv:
            yield srv.base, counted
    finally:
        for app in counted.apps:
            release(app)


def run_locust(tmp_path: Path, base: str, chunks: int = CHUNKS) -> list[dict[str, Any]]:
    listener = tmp_path / "listener.py"
    listener.write_text(LISTENER)
    out = tmp_path / "events.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            f"{ROOT / 'scenarios' / 'stream.py'},{listener}",
            "--headless",
            "--users",
            str(USERS),
            "--spawn-rate",
            "100",
            "--run-time",
            "2s",
            # Running requests finish before Locust exits, so none is cut short uncounted.
            "--stop-timeout",
            "10",
            "--host",
            base,
            "--only-summary",
            "--loglevel",
            "ERROR",
            "--exit-code-on-error",
            "0",
            "--chunks",
            str(chunks),
            "--bytes",
            str(SIZE),
            "--ms",
            str(GAP_MS),
            "--events-out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text())


def test_one_event_per_request_with_ttfb(
    tmp_path: Path, counted_server: tuple[str, Counted]
) -> None:
    base, counted = counted_server
    records = run_locust(tmp_path, base)
    streams = [path for path in counted.finished if path == "/stream"]
    assert len(records) >= USERS * 3  # 2 s of 0.15 s requests
    assert len(records) == len(streams)
    assert all(r["name"] == "/stream" for r in records)
    assert all(r["ok"] for r in records), {r["error"] for r in records}
    assert all(r["length"] == CHUNKS * SIZE for r in records)
    gaps_ms = (CHUNKS - 1) * GAP_MS
    # The first byte comes with the first chunk, at once; a busy machine may delay a few.
    ttfbs = sorted(r["ttfb_ms"] for r in records)
    assert ttfbs[len(ttfbs) // 2] < gaps_ms / 3
    for r in records:
        assert 0 < r["ttfb_ms"] < r["response_time"]
        # The response time is the whole body, not the headers.
        assert r["response_time"] >= gaps_ms * 0.9
        assert r["response_time"] - r["ttfb_ms"] >= gaps_ms * 0.8


def test_an_error_answer_is_one_failed_event(
    tmp_path: Path, counted_server: tuple[str, Counted]
) -> None:
    """chunks=0 is a 400: every request is one failed event, none is lost or doubled."""
    base, counted = counted_server
    records = run_locust(tmp_path, base, chunks=0)
    streams = [path for path in counted.finished if path == "/stream"]
    assert len(records) > 10
    assert len(records) == len(streams)
    assert not any(r["ok"] for r in records)
    assert {r["error"] for r in records} == {"status 400"}
    assert all(r["ttfb_ms"] is None for r in records)
