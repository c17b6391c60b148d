"""An app whose health path answers before its other paths can serve (each forked process
still opening its pools): the cell fails saying so, and the suite's verify_grace_s retries
verification while it finishes starting."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import placements
from harness.cell import CellOptions, run_cell
from harness.suite.parse import load_suite
from record.errors import UserError

# /health answers at once; /hello is a 500 for the first READY_AFTER_S seconds.
APP = """
import sys, time
import tornado.ioloop, tornado.web

READY_AT = time.monotonic() + float(sys.argv[2])

class Health(tornado.web.RequestHandler):
    def get(self):
        self.write("up")

class Hello(tornado.web.RequestHandler):
    def get(self):
        if time.monotonic() < READY_AT:
            raise tornado.web.HTTPError(500)
        self.write("Hello, world")

tornado.web.Application([("/health", Health), ("/hello", Hello)]).listen(int(sys.argv[1]), "127.0.0.1")
tornado.ioloop.IOLoop.current().start()
"""
READY_AFTER_S = 1.5


def _suite(tmp: Path, extra: str) -> Path:
    (tmp / "late_app.py").write_text(APP)
    path = tmp / "suite.toml"
    path.write_text(
        f'name = "late"\nduration_s = 1\nwarmup_s = 0\nusers = [1]\n{extra}\n'
        f'[[apps]]\nname = "late"\ncommand = ["{{python}}", "late_app.py", "{{port}}", '
        f'"{READY_AFTER_S}"]\nhealth = "/health"\n\n[[scenarios]]\nname = "hello"\n'
    )
    return path


def _run(tmp: Path, extra: str) -> tuple[str, str]:
    suite = load_suite(_suite(tmp, extra))
    (cell,) = suite.cells()
    record = run_cell(cell, tmp / "cell", CellOptions(suite, placements.choose("split")))
    return record.status, record.reason


def test_health_before_the_paths_fails_saying_so(tmp_path: Path) -> None:
    status, reason = _run(tmp_path, "")
    assert status == "failed"
    assert "verification failed: GET /hello: status 500" in reason
    assert "/health said ready before these paths could serve" in reason
    assert "verify_grace_s" in reason


def test_verify_grace_s_retries_until_the_app_serves(tmp_path: Path) -> None:
    status, reason = _run(tmp_path, "verify_grace_s = 5")
    assert status == "ok", reason


def test_verify_grace_s_is_checked(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"verify_grace_s: 90 is out of range; allowed 0\.\.60"):
        load_suite(_suite(tmp_path, "verify_grace_s = 90"))
