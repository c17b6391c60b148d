"""The report's work beside its main line (analysis/report/beside.py): done in a forked process
by the time it is waited for, what it raised raised again in the report process, and nothing
left running when the report fails meanwhile."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from analysis.report.beside import Beside


def _write(path: Path, text: str) -> None:
    path.write_text(f"{text} {os.getpid()}")


def _fail(message: str) -> None:
    raise OSError(28, message)


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def test_the_work_is_done_in_another_process_when_waited_for(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    with Beside(_write, out, "written") as work:
        work.wait()
    text, pid = out.read_text().split()
    assert text == "written"
    assert int(pid) != os.getpid() or (os.cpu_count() or 1) < 2


def test_what_the_work_raised_is_raised_by_wait() -> None:
    with Beside(_fail, "No space left on device") as work, pytest.raises(OSError) as raised:
        work.wait()
    assert raised.value.errno == 28 and "No space left" in str(raised.value)


def test_a_failing_report_stops_the_work(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="the report failed"), Beside(_sleep, 60.0) as work:
        process = work.process
        raise RuntimeError("the report failed")
    if process is not None:  # forked: it is gone, well before its minute
        assert not process.is_alive() and process.exitcode is not None
