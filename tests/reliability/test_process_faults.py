"""A process of a running cell killed: that cell says what happened, the next cell runs, the
earlier cell's files are untouched, and nothing is left running."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.process_faults import process_fault

pytestmark = pytest.mark.reliability

EXPECTED = {
    "server": ("failed", "server exited with code -9 during load"),
    "server worker": ("invalid", "died during the window"),
    "locust worker": ("invalid", "lost at"),  # the master's words: "worker 1 lost at 1.3 s"
    "backend": ("failed", "backend exited with code -9 during load"),
}


@pytest.mark.parametrize(
    "victim",
    [
        # A SIGKILLed Locust worker is also covered by tests/harness/test_distributed.py.
        pytest.param("locust worker", marks=pytest.mark.slow),
        pytest.param("server", marks=pytest.mark.slow),
        pytest.param("server worker", marks=pytest.mark.slow),
        pytest.param("backend", marks=pytest.mark.slow),
    ],
)
def test_a_killed_process_is_reported_and_the_suite_goes_on(tmp_path: Path, victim: str) -> None:
    fault = process_fault(tmp_path, victim)
    status, words = EXPECTED[victim]
    assert fault.killed, fault
    assert fault.status == status and words in fault.notes, fault
    assert fault.next_cell_status == "ok" and fault.first_cell_unchanged, fault
    assert fault.left_running == 0 and fault.exit_status == (2 if status == "failed" else 0)
