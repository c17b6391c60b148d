"""The C10K table (analysis/connections.py, analysis/readings/connections.py): broadcasts cut
from a feed cell's delivery records (hashrocket's criterion: every subscriber within 500 ms),
matched to the server process that sent them, and per strategy and loop the largest N of a
ladder of feed cells by that criterion and by delivery p99, with what ended each search."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis import connections
from analysis.connections import Broadcasts, broadcast_figures, c10k_table, subscribers
from analysis.readings.connections import c10k_display, read_c10k
from record.window import Window

WINDOW = Window(1000.0, 1010.0)


def deliveries(sends: dict[float, list[float]]) -> pd.DataFrame:
    """Delivery records: for each send stamp, one record per latency (ms)."""
    rows = [(sent, ms, True) for sent, latencies in sends.items() for ms in latencies]
    return pd.DataFrame(rows, columns=["start", "latency_ms", "ok"])


def test_a_broadcast_counts_when_every_subscriber_had_it_within_500_ms() -> None:
    on_time = [10.0] * 99 + [480.0]
    sends = {1000.0 + k: list(on_time) for k in range(9)}  # 1000.0 .. 1008.0
    sends[1003.0] = [10.0] * 99 + [650.0]  # its last subscriber was late
    sends[1004.0] = [10.0] * 99  # one subscriber never had it in the window
    sends[999.5] = [10.0] * 100  # sent before the window: not counted
    sends[1009.7] = [10.0] * 100  # too close to the end to be judged
    b = broadcast_figures(deliveries(sends), WINDOW, [100])
    assert (b.counted, b.within) == (9, 7)
    assert b.share == pytest.approx(7 / 9) and not b.passes
    # Nearest rank: the 9th of 9 sorted completions is the missing one's (infinite).
    assert b.p95_ms == math.inf
    good = {1000.0 + k: list(on_time) for k in range(9)}
    b = broadcast_figures(deliveries(good), WINDOW, [100])
    assert b.passes and b.p95_ms == 480.0
    assert broadcast_figures(deliveries({}), WINDOW, [100]) == connections.NO_BROADCASTS
    assert not connections.NO_BROADCASTS.passes


def test_a_forking_servers_broadcasts_are_matched_to_the_nearest_process() -> None:
    sends = {1000.0: [5.0] * 60, 1000.3: [5.0] * 40, 1001.0: [5.0] * 59, 1001.3: [5.0] * 40}
    b = broadcast_figures(deliveries(sends), WINDOW, [40, 60])
    # 1001.0 has 59 of the 60-subscriber process's deliveries: incomplete.
    assert (b.counted, b.within) == (4, 3)
    with pytest.raises(ValueError):
        Broadcasts(2, 3, 1.0)


def test_subscribers_per_process_from_the_health_readings() -> None:
    readings = pd.DataFrame(
        {
            "t": [998.0, 999.0, 1001.0, 1003.0, 1005.0, 995.0, 1002.0],
            "pid": [1, 2, 1, 1, 1, 3, 3],
            "websockets": [300, 480, 510, 512, 511, 7, 0],
        }
    )
    # pid 1: its readings in the window (the one before dates from the ramp); pid 2: never
    # read inside, its latest before; pid 3: no subscribers.
    assert subscribers(readings, WINDOW) == [511, 480]
    assert subscribers(pd.DataFrame(), WINDOW) == []


def test_late_handshakes_in_the_window_are_no_broadcasts() -> None:
    rows = deliveries({1000.0: [5.0] * 10})
    late = pd.DataFrame(
        {"start": [1000.2, 1000.4], "latency_ms": [900.0, 950.0], "ok": [True, True]}
    )
    both = pd.concat([rows.assign(endpoint="/ws/feed"), late.assign(endpoint="/ws/feed:connect")])
    assert broadcast_figures(both, WINDOW, [10]) == Broadcasts(1, 1, 5.0)


def cell(
    cell_id: str,
    target: int,
    *,
    variant: str = "coroutine",
    loop: str = "asyncio",
    held: float | None = None,
    p99: float = 40.0,
    valid: bool = True,
    limited: bool = False,
    notes: str = "",
    contended: bool = False,
    repeat: int = 1,
) -> dict[str, object]:
    return {
        "cell_id": cell_id,
        "variant": variant,
        "loop": loop,
        "scenario_name": "ws-feed",
        "status": "ok" if valid else "invalid",
        "requests": 1000,
        "connections_target": float(target),
        "connections_held": float(target if held is None else held),
        "delivery_p99_ms": p99,
        "p99_ms": p99,
        "valid": valid,
        "generator_limited": limited,
        "notes": notes,
        "contended": contended,
        "repeat": repeat,
    }


PASS, FAIL = Broadcasts(10, 10, 200.0), Broadcasts(10, 8, 900.0)


def test_each_ladder_stops_at_its_first_failing_step_and_says_why() -> None:
    cells = [
        # coroutine: 1,000 and 2,000 pass; 5,000 late (the server); 10,000 would pass again
        cell("c1", 1000),
        cell("c2", 2000, p99=90.0),
        cell("c5", 5000, p99=300.0),
        cell("c10", 10000),
        # sync: p99 fails at 2,000 while the broadcasts pass; they fail at 5,000 where the
        # generator was near its limit
        cell("s1", 1000, variant="sync"),
        cell("s2", 2000, variant="sync", p99=150.0),
        cell("s5", 5000, variant="sync", limited=True, notes="generator-limited: ..."),
        # coroutine on uvloop passes every step: the search's top
        cell("u1", 1000, loop="uvloop"),
        cell("u5", 5000, loop="uvloop"),
        # threadpool held too few at its first step (one repeat of two): nothing passed
        cell("t1a", 1000, variant="threadpool"),
        cell("t1b", 1000, variant="threadpool", held=900.0, repeat=2),
        # fanout: its second step was on a busy machine
        cell("f1", 1000, variant="fanout"),
        cell("f2", 2000, variant="fanout", contended=True, valid=False),
    ]
    broadcasts = {
        "c1": PASS,
        "c2": Broadcasts(10, 10, 420.0),
        "c5": FAIL,
        "c10": PASS,
        "s1": PASS,
        "s2": PASS,
        "s5": FAIL,
        "u1": PASS,
        "u5": PASS,
        "t1a": PASS,
        "t1b": PASS,
        "f1": PASS,
        "f2": PASS,
    }
    summary = pd.DataFrame(cells)
    summary = pd.concat(
        [summary, pd.DataFrame([{**cell("x", 1000), "scenario_name": "poll"}])],
        ignore_index=True,
    )
    table = c10k_table(summary, broadcasts).set_index(["variant", "loop"])
    row = table.loc[("coroutine", "asyncio")]
    assert (row.broadcast_n, row.broadcast_ended_by, row.broadcast_p95_ms) == (2000, "server", 420)
    assert (row.p99_n, row.p99_ended_by, row.p99_ms) == (2000, "server", 90.0)
    assert (row.searched_to, row.steps) == (10000, 4)
    row = table.loc[("sync", "asyncio")]
    assert (row.broadcast_n, row.broadcast_ended_by) == (2000, "generator")
    assert (row.p99_n, row.p99_ended_by) == (1000, "server")
    row = table.loc[("coroutine", "uvloop")]
    assert (row.broadcast_n, row.broadcast_ended_by, row.p99_ended_by) == (5000, "top", "top")
    row = table.loc[("threadpool", "asyncio")]
    assert math.isnan(row.broadcast_n) and row.broadcast_ended_by == "server"
    assert math.isnan(row.broadcast_p95_ms)
    row = table.loc[("fanout", "asyncio")]
    assert (row.broadcast_n, row.broadcast_ended_by) == (1000, "machine")
    assert len(table) == 5  # the poll cell is no feed

    text = read_c10k(c10k_table(summary, broadcasts))
    assert text.startswith("Most subscribers with 95% of broadcasts reaching every one within")
    assert "coroutine (uvloop) at least 5,000 (the search's top: it served every step)" in text
    assert "sync (asyncio) 2,000 (the generator ended the search)" in text
    assert "threadpool (asyncio) none of the steps" in text
    assert "fanout (asyncio) 1,000 (other processes on the cores ended the search)" in text
    assert "Searched up to 10,000 connections" in text
    shown = c10k_display(c10k_table(summary, broadcasts)).set_index(["strategy", "loop"])
    assert shown.loc[("coroutine", "uvloop"), "most subscribers, delivery p99 < 100 ms"] == (
        "≥ 5,000"
    )
    assert shown.loc[("threadpool", "asyncio"), "most subscribers, delivery p99 < 100 ms"] == "—"


def test_no_feed_cells_no_table() -> None:
    assert c10k_table(pd.DataFrame(), {}).empty
    assert read_c10k(c10k_table(pd.DataFrame(), {})) == "No WebSocket feed ladder in this run."
    assert list(c10k_table(pd.DataFrame(), {}).columns) == connections.C10K_COLUMNS
    assert np.isnan(Broadcasts(0, 0, math.nan).share)
