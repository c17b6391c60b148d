"""The start gate (loadgen/go.py): Locust's load waits for the harness's go file, and gives
up rather than wait for ever."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from loadgen.go import wait_for_go


def test_no_file_named_means_no_wait() -> None:
    started = time.monotonic()
    wait_for_go("")
    assert time.monotonic() - started < 0.05


def test_the_gate_opens_when_the_file_appears(tmp_path: Path) -> None:
    go = tmp_path / "go"
    threading.Timer(0.3, go.touch).start()
    started = time.monotonic()
    wait_for_go(str(go), wait_s=10)
    waited = time.monotonic() - started
    assert 0.25 <= waited < 2.0, waited


def test_a_gate_never_opened_exits(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(SystemExit) as exc:
        wait_for_go(str(tmp_path / "go"), wait_s=0.3)
    assert exc.value.code == 1 and 0.25 <= time.monotonic() - started < 2.0
