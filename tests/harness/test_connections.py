"""What a long-lived cell held, from its /health readings and resource samples
(harness/connections.py): a forking server's processes each report their own counts."""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd
import pytest

from catalog.health import Health, LiveCounts
from harness import connections, timing
from harness.suite import limits
from record.window import Window

WINDOW = Window(10.0, 14.0)


def test_counts_are_summed_over_each_process_readings_inside_the_window() -> None:
    rows = [  # (t, pid, websockets, polls_waiting, polls_waiting_max, messages_sent)
        (9.0, 1, 400, 0, 0, 0),
        (9.5, 2, 450, 0, 0, 0),  # the ramp: pid 2 is read again inside the window
        (9.8, 3, 90, 0, 0, 0),  # pid 3 is never read inside: its latest before counts
        (10.2, 1, 500, 0, 0, 0),  # pid 1's first reading inside the window
        (11.0, 1, 505, 0, 0, 0),  # pid 1's last
        (13.5, 2, 480, 0, 0, 0),  # pid 2's first and last
        (14.5, 1, 10, 0, 0, 0),  # after the window: the load stopping
    ]
    assert connections.held(rows, WINDOW, "ws-feed")[:2] == (500 + 480 + 90, 505 + 480 + 90)
    assert all(math.isnan(v) for v in connections.held([], WINDOW, "ws-feed"))
    # A 2-process server of 1,000 whose second process was last read mid-ramp: it held 1,000,
    # not the 536 the sum at the window's first reading gave.
    ramp = [(9.9, 2, 36, 0, 0, 0), (10.1, 1, 500, 0, 0, 0), (10.7, 2, 500, 0, 0, 0)]
    assert connections.held(ramp, WINDOW, "ws-feed")[0] == 1000.0


def test_poll_held_is_the_servers_high_water_mark() -> None:
    rows = [(10.5, 1, 0, 3, 8, 0), (11.0, 2, 0, 0, 8, 0), (12.0, 1, 0, 8, 8, 0)]
    assert connections.held(rows, WINDOW, "poll") == (16.0, 16.0, 16.0)


def test_memory_before_the_first_connection_and_while_held() -> None:
    mb = connections.MB
    samples = pd.DataFrame(
        {
            "t": [8.0, 8.0, 9.0, 11.0, 12.0, 13.0],
            "role": ["server", "locust", "server", "server", "server", "server"],
            "pid": [1, 9, 1, 1, 1, 1],
            "cpu_pct": [0.0] * 6,
            "rss_bytes": [20 * mb, 5 * mb, 30 * mb, 40 * mb, 42 * mb, 41 * mb],
        }
    )
    assert connections.tree_rss_mb(samples, "server", WINDOW, before=9.5) == (30.0, 41.0)
    before, held = connections.tree_rss_mb(samples, "server", WINDOW, before=7.0)
    assert math.isnan(before) and held == 41.0
    assert connections.tree_rss_mb(samples, "locust", WINDOW, before=9.5)[0] == 5.0


def test_a_reading_is_taken_only_from_a_health_with_live_counts() -> None:
    live = LiveCounts(
        websockets=2,
        feeds=2,
        polls_waiting=1,
        polls_waiting_max=4,
        polls_answered=0,
        polls_timed_out=0,
        messages_sent=9,
        send_backlog_bytes=0,
        backlog_closes=0,
        send_backlog_max_bytes=1,
    )
    health = Health("ok", "sync", "asyncio.EventLoop", 3, 8, 1, "simple", live=live)
    poller = connections.ConnectionsPoller("http://127.0.0.1:9/health")
    poller._take(1.0, Health.from_json(health.to_json()))
    poller._take(2.0, replace(health, live=None))
    assert poller.rows == [(1.0, 3, 2, 1, 4, 9)]


def test_nearest_rank() -> None:
    assert connections.nearest_rank([5.0, 1.0, 3.0], 0.99) == 5.0
    assert connections.nearest_rank([5.0, 1.0, 3.0], 0.5) == 3.0
    assert math.isnan(connections.nearest_rank([], 0.5))
    assert limits.ephemeral_ports(limits.PORT_RANGE) > 0
    assert timing.ramp_s({"connections": 500, "spawn_rate": 1000}) == pytest.approx(0.5)
