"""The long-lived connection columns of the summary (analysis/connections.py): the figures a
cell's connections.json carries, memory per connection, a feed's delivery percentiles and the
mark of a cell that held too few connections."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from analysis import connections
from record.connections import ConnectionFigures
from record.errors import UserError


def figures(**over: float) -> ConnectionFigures:
    base = {
        "target": 1000,
        "held_start": 1000.0,
        "held_end": 990.0,
        "polls_waiting_max": 0.0,
        "connects": 1003,
        "connect_failures": 3,
        "connect_p99_ms": 12.5,
        "server_rss_before_mb": 30.0,
        "server_rss_mb": 40.0,
        "locust_rss_before_mb": 50.0,
        "locust_rss_mb": 90.0,
        "health_readings": 20,
    }
    return ConnectionFigures(**{**base, **over})  # type: ignore[arg-type]


def test_figures_round_trip_and_validate(tmp_path: Path) -> None:
    figures().write(tmp_path)
    assert ConnectionFigures.read(tmp_path) == figures()
    assert ConnectionFigures.read(tmp_path / "none") is None
    with pytest.raises(ValueError):
        figures(connect_failures=2000)
    with pytest.raises(ValueError):
        figures(held_start=-1.0)
    (tmp_path / "connections.json").write_text('{"schema_version": 5, "target": 3}')
    with pytest.raises(UserError, match="missing held_start"):
        ConnectionFigures.read(tmp_path)


def test_join_marks_a_cell_that_held_too_few(tmp_path: Path) -> None:
    for cid, fig in (("a", figures()), ("b", figures(held_start=900.0))):
        (tmp_path / "cells" / cid).mkdir(parents=True)
        fig.write(tmp_path / "cells" / cid)
    (tmp_path / "cells" / "c").mkdir()  # another scenario: no file
    cells = pd.DataFrame({"cell_id": ["a", "b", "c"], "cell_notes": ["", "slow start", ""]})
    out = connections.join_figures(cells, tmp_path)
    assert list(out["cell_notes"]) == ["", "slow start; held 900 of 1000 connections", ""]
    assert out.loc[0, "connections_held"] == 1000 and math.isnan(out.loc[2, "connections_held"])


def test_memory_per_connection_and_delivery() -> None:
    summary = pd.DataFrame(
        {
            "scenario_name": ["ws-feed", "ws-echo", "hello"],
            "p50_ms": [4.0, 2.0, 1.0],
            "p99_ms": [40.0, 20.0, 10.0],
            **{k: [v, v, math.nan] for k, v in connections.figure_row(figures()).items()},
        }
    )
    out = connections.add_derived(summary)
    assert out.loc[0, "kb_per_connection"] == pytest.approx(10 * 1024 / 1000)
    assert out.loc[0, "locust_kb_per_connection"] == pytest.approx(40 * 1024 / 1000)
    assert out.loc[0, "delivery_p99_ms"] == 40.0
    assert math.isnan(out.loc[1, "delivery_p99_ms"])  # an echo has no delivery latency
    assert math.isnan(out.loc[2, "kb_per_connection"])


def test_held_note() -> None:
    assert connections.held_note(200.0, 190.0) == ""
    assert connections.held_note(200.0, 189.0) == "held 189 of 200 connections"
    assert connections.held_note(200.0, math.nan) == ""


def test_poll_memory_is_per_open_connection() -> None:
    row = connections.figure_row(figures(held_start=8.0))
    summary = pd.DataFrame({"scenario_name": ["poll"], **{k: [v] for k, v in row.items()}})
    out = connections.add_derived(summary)
    assert out.loc[0, "kb_per_connection"] == pytest.approx(10 * 1024 / 1000)
