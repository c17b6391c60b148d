"""Instants against the window (slots half-open, samples closed) and the one late-send rule:
late past LATE_MS, a slot never sent is late, a row with no slot never is."""

from __future__ import annotations

import math

import numpy as np

from record.window import LATE_MS, Window, late
from record.worker_state import StateNote, WorkerState


def test_contains_is_half_open_and_covers_is_closed() -> None:
    w = Window(10.0, 12.0)
    t = np.array([9.99, 10.0, 11.0, 12.0, 12.01])
    assert w.contains(t).tolist() == [False, True, True, False, False]
    assert w.covers(t).tolist() == [False, True, True, True, False]


def test_late_sends() -> None:
    intended = np.array([100.0, 100.0, 100.0, math.nan])
    start = np.array([100.0 + LATE_MS / 1000 / 2, 100.0 + 2 * LATE_MS / 1000, math.nan, 100.5])
    assert late(start, intended).tolist() == [False, True, True, False]


def test_worker_state_notes_read_back() -> None:
    for note in (
        StateNote(WorkerState.JOINED),
        StateNote(WorkerState.REFUSED, "token differs: a: b"),
        StateNote(WorkerState.RUN_OVER),
        StateNote(WorkerState.MASTER_LOST),
    ):
        assert StateNote.from_text(note.to_text()) == note
    assert StateNote.from_text("") is None and StateNote.from_text("gibberish") is None
