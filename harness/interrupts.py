"""How the harness treats Ctrl-C and SIGTERM: both stop a run cleanly and keep what finished,
and neither may cut a cell's teardown and record in half."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType


def raise_interrupt(signum: int, frame: FrameType | None) -> None:
    """The one SIGTERM handler: SIGTERM to the harness is handled like Ctrl-C."""
    raise KeyboardInterrupt


def install_stop_signals() -> None:
    """Ctrl-C and SIGTERM stop the harness cleanly (exit 130, completed cells kept) at any
    moment, report included. Installed explicitly: a process started in the background by a
    shell (`cmd &`, nohup) inherits SIGINT ignored, and Python then leaves it ignored, so a
    `kill -INT` would be lost and the run would carry on to its end."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, raise_interrupt)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM to the harness is handled like Ctrl-C: stop cleanly, keep what finished (for a
    run started without run_bench.py's main, which installs the same handler for good)."""
    old = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM while a cell's processes stop and its cell.json is written: a
    signal that arrives meanwhile is remembered, and raised as KeyboardInterrupt once the write
    is complete. Ignoring it instead would let a run carry on to its end and exit 0."""
    received: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    old = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if received:
        raise KeyboardInterrupt
