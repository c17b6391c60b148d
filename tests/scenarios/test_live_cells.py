"""The long-lived scenarios end to end with real processes: a cell of 200 connections per
workload (records, counts, what is left open afterwards), and the limits that refuse a suite
asking for more connections than the machine allows."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import psutil
import pytest

from catalog import workloads
from catalog.fdlimit import LOOPBACK_SOURCES, loopback_source
from catalog.workloads import WORKLOADS
from harness import placements, timing
from harness.cell import CellOptions, run_cell
from harness.suite import limits
from harness.suite.parse import Suite, parse_suite
from record.connections import ConnectionFigures
from record.errors import UserError

CONNECTIONS = 200
LIVE = sorted(name for name, spec in WORKLOADS.items() if spec.live)
# What each workload's records are called: the messages (or answers) and the handshakes.
ENDPOINTS = {
    "ws-echo": ("/ws/echo", "/ws/echo:connect"),
    "ws-feed": ("/ws/feed", "/ws/feed:connect"),
    "poll": ("/poll", None),
}
PARAMS = {
    "ws-echo": {"interval_ms": 200, "bytes": 100, "ms": 5},
    "ws-feed": {"interval_ms": 250, "bytes": 200},
    "poll": {"interval_ms": 100, "timeout_ms": 2000},
}


def test_every_long_lived_scenario_is_covered_here() -> None:
    assert set(ENDPOINTS) == set(PARAMS) == set(LIVE)


def live_suite(scenario: str, n: int = CONNECTIONS, variant: str = "coroutine") -> Suite:
    params = {"connections": n, "spawn_rate": 1000, **PARAMS[scenario]}
    return parse_suite(
        {
            "name": "live",
            "duration_s": 2.0,
            "warmup_s": 0.5,
            "variants": [variant],
            "scenarios": [{"name": scenario, "params": params}],
        },
        "live.toml",
    )


def open_to(port: int) -> list[str]:
    """TCP sockets on this machine still connected to (or listening on) `port`."""
    return [
        f"{c.laddr}->{c.raddr} {c.status}"
        for c in psutil.net_connections("tcp")
        if (c.laddr and c.laddr.port == port) or (c.raddr and c.raddr.port == port)
        if c.status != psutil.CONN_TIME_WAIT
    ]


@pytest.mark.parametrize("scenario", LIVE)
def test_a_cell_of_200_connections(tmp_path: Path, scenario: str) -> None:
    suite = live_suite(scenario)
    (cell,) = suite.cells()
    assert cell.users == CONNECTIONS  # one user per connection
    info = run_cell(cell, tmp_path, CellOptions(suite=suite, placement=placements.choose("split")))
    assert info.status == "ok", info.reason
    record = json.loads((tmp_path / "cell.json").read_text())
    assert record["leftover_pids"] == []
    # The window starts after the ramp: 200 connections at 1000/s, plus the slack.
    window = record["window"]
    assert window["end"] - window["start"] == pytest.approx(2.0, abs=0.01)
    reqs = pd.read_parquet(tmp_path / "requests.parquet")
    both = pd.concat([reqs, pd.read_parquet(tmp_path / "outside.parquet")])
    assert record["records"] == record["locust_requests"] == len(both)
    messages, connect = ENDPOINTS[scenario]
    assert set(reqs["endpoint"]) == {messages}  # every handshake came before the window
    assert reqs["ok"].all() and len(reqs) > CONNECTIONS
    # Locust's request type on every row: WebSocket messages and handshakes, or the poll's GET.
    assert set(both["request_type"]) == ({"WS"} if connect is not None else {"GET"})
    if connect is not None:
        handshakes = both[both["endpoint"] == connect]
        assert len(handshakes) == CONNECTIONS and handshakes["ok"].all()
        assert (handshakes["start"] + handshakes["latency_ms"] / 1000 < window["start"]).all()
    if scenario == "ws-feed":
        # Delivery latency: received minus the server's send time, on one clock.
        assert (reqs["latency_ms"] > 0).all() and reqs["latency_ms"].median() < 1000
        assert (reqs["bytes"] == 200).all()
        # Every subscriber gets every message: N per interval (a busy generator reads some
        # of the window's last ones after it).
        assert len(reqs) == pytest.approx(CONNECTIONS * 2.0 / 0.25, rel=0.25)
    if scenario == "poll":
        assert set(reqs["status"]) <= {200, 204}
        assert reqs["latency_ms"].max() < 2000 + 1000
    assert open_to(_port_of(tmp_path)) == []  # no server or client socket left
    figures = ConnectionFigures.read(tmp_path)
    assert figures is not None and figures.target == CONNECTIONS
    # Counted by the server itself (/health), at the window's start and end.
    assert figures.held_start == figures.held_end == CONNECTIONS
    assert figures.health_readings >= 3
    assert figures.connects == (0 if connect is None else CONNECTIONS)
    assert figures.connect_failures == 0
    if scenario == "poll":
        assert figures.polls_waiting_max == CONNECTIONS  # coroutine: every poll waits at once
    else:
        assert 0 < figures.connect_p99_ms < 10_000
    if scenario == "poll":
        # 200 waiting polls can fit in memory the server already mapped while it was
        # verified: its RSS need not grow by a page.
        assert 0 < figures.server_rss_before_mb <= figures.server_rss_mb
    else:
        assert 0 < figures.server_rss_before_mb < figures.server_rss_mb
    assert (tmp_path / "connections.csv").read_text().startswith("t,pid,websockets,")


def _port_of(cell_dir: Path) -> int:
    """The port the cell's server listened on, from its log line."""
    line = (cell_dir / "server.log").read_text().splitlines()[0]
    return int(line.split("http://127.0.0.1:", 1)[1].split()[0])


def test_limits_refuse_more_connections_than_the_machine_allows() -> None:
    assert limits.limit_problem(1000, nofile=20000, ports=28232) == ""
    fds = limits.limit_problem(10_000, nofile=4096, ports=28232)
    assert "10256 open files per process" in fds and "4096" in fds and "ulimit -Hn" in fds
    ports = limits.limit_problem(30_000, nofile=1 << 20, ports=28232)
    assert "28232" in ports and "ip_local_port_range" in ports
    # A WebSocket client spreads its connections over 16 loopback source addresses.
    assert limits.sources_for(workloads.LIVE_FEED) == limits.sources_for(workloads.LIVE_ECHO) == 16
    assert limits.sources_for(workloads.LIVE_POLL) == 1
    assert limits.limit_problem(30_000, nofile=1 << 20, ports=28232, sources=16) == ""
    many = limits.limit_problem(500_000, nofile=1 << 20, ports=28232, sources=16)
    assert "from 16 addresses" in many and "28232 from each of 16" in many


def test_websocket_connections_to_loopback_take_loopback_sources_in_turn() -> None:
    sources = [loopback_source("127.0.0.1", k) for k in range(LOOPBACK_SOURCES + 1)]
    assert sources[:2] == ["127.0.0.1", "127.0.0.2"] and sources[-1] == "127.0.0.1"
    assert len(set(sources)) == LOOPBACK_SOURCES
    assert loopback_source("198.18.0.1", 3) is None  # another machine: the kernel chooses
    assert loopback_source("::1", 3) is None and loopback_source("localhost", 3) is None


def test_a_suite_over_the_limit_is_refused_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(limits, "nofile_hard", lambda: 1024)
    with pytest.raises(UserError) as err:
        live_suite("ws-feed", n=5000)
    message = str(err.value)
    assert message.startswith("live.toml: scenarios[0].params.connections: 5000 connections")
    assert "1024" in message


def test_a_long_lived_scenario_takes_no_users() -> None:
    with pytest.raises(UserError, match=r"scenarios\[0\]\.users: .*params\.connections"):
        parse_suite(
            {
                "name": "live",
                "variants": ["coroutine"],
                "scenarios": [{"name": "poll", "users": [10]}],
            },
            "live.toml",
        )


def test_the_warmup_covers_the_ramp() -> None:
    params = {"connections": 10_000, "spawn_rate": 1000}
    assert timing.warmup_s(params, 1.0) == pytest.approx(12.0)
    assert timing.warmup_s(params, 30.0) == 30.0
