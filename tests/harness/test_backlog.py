"""backlog.csv: an enqueue cell's /health polled while it loads; nothing computed from it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from catalog.health import Background, Health
from harness.cell import CellOptions, run_cell
from harness.placements import choose
from harness.processes.backlog import BACKLOG_COLUMNS, BacklogPoller, wanted, write_backlog
from harness.suite.parse import parse_suite

HEALTH = Health(
    status="ok",
    variant="coroutine",
    loop="asyncio.EventLoop",
    pid=42,
    threads=8,
    processes=1,
    http_client="simple",
    background=Background(
        queued=3, in_progress=2, completed=10, failed=0, rejected=1, max_backlog=5
    ),
)


def test_a_row_takes_the_counts_or_nothing() -> None:
    poller = BacklogPoller("http://127.0.0.1:9/health")
    poller._take(7.0, Health.from_json(HEALTH.to_json()))
    poller._take(8.0, Health.from_json(replace(HEALTH, background=None).to_json()))
    assert poller.rows == [(7.0, 3, 2, 10, 1, 42)]
    with pytest.raises(ValueError):
        Health.from_json(b"<html>")


def test_only_enqueue_cells_on_built_in_servers_are_polled() -> None:
    assert wanted("enqueue", user_file=False, builtin_server=True)
    assert not wanted("sleep", user_file=False, builtin_server=True)
    assert not wanted("enqueue", user_file=True, builtin_server=True)
    assert not wanted("enqueue", user_file=False, builtin_server=False)


def test_a_server_that_does_not_answer_gives_an_empty_file(tmp_path: Path) -> None:
    poller = BacklogPoller("http://127.0.0.1:9/health")
    poller.start()
    rows = poller.stop()
    write_backlog(tmp_path, rows)
    frame = pd.read_csv(tmp_path / "backlog.csv")
    assert list(frame.columns) == list(BACKLOG_COLUMNS) and frame.empty


def test_an_enqueue_cell_writes_backlog_csv_with_rising_completed(tmp_path: Path) -> None:
    # Jobs of 200 ms with at most 5 pending: the server turns most away (max_backlog reaches
    # it) and completes about 25 a second.
    suite = parse_suite(
        {
            "name": "t",
            "duration_s": 2,
            "warmup_s": 0,
            "variants": ["coroutine"],
            "users": [4],
            "server": {"max_backlog": 5},
            "scenarios": [{"name": "enqueue", "params": {"ms": 200}}],
        },
        "t.toml",
    )
    (cell,) = suite.cells()
    record = run_cell(cell, tmp_path, CellOptions(suite, choose("split")))
    assert record.status == "ok", record.reason
    frame = pd.read_csv(tmp_path / "backlog.csv")
    assert list(frame.columns) == list(BACKLOG_COLUMNS)
    assert len(frame) >= 4  # every 0.5 s over about 3 s of load
    assert frame["t"].is_monotonic_increasing
    assert frame["completed"].is_monotonic_increasing  # one process: counts never go back
    assert frame["completed"].iloc[-1] - frame["completed"].iloc[0] >= 10
    assert (frame["queued"] + frame["in_progress"]).max() <= 5
    assert frame["rejected"].iloc[-1] > 0
    assert frame["pid"].nunique() == 1
