"""The load generator's own clients end to end: long-lived cells whose connections the hub holds
(loadgen/held_user.py) reconcile their records with Locust's count with one Locust process and
with two workers; a user's own Locust file with a websocket-client User of its own still runs
beside them; and (slow) a 2,000-connection feed holds every connection at the window's start
on every strategy with the generator under half its core."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from catalog.strategies import VARIANTS
from harness import placements
from harness.cell import CellOptions, run_cell
from harness.processes.locust_cmd import Distribution
from harness.runner import with_run_master_port
from harness.suite.parse import Suite, parse_suite
from record.connections import ConnectionFigures
from record.loadgen_summary import read_summary

PARAMS = {
    "ws-feed": {"interval_ms": 250, "bytes": 100},
    "poll": {"interval_ms": 200, "timeout_ms": 2000},
}


def live_suite(
    scenario: str,
    n: int,
    variants: list[str],
    duration_s: float = 2.0,
    params: dict[str, int] | None = None,
) -> Suite:
    return parse_suite(
        {
            "name": "held",
            "duration_s": duration_s,
            "warmup_s": 0.5,
            "variants": variants,
            "server": {"processes": 2, "threads": 8},
            "scenarios": [
                {
                    "name": scenario,
                    "params": {"connections": n, "spawn_rate": 1000} | (params or PARAMS[scenario]),
                }
            ],
        },
        "held.toml",
    )


def records(cell_dir: Path) -> pd.DataFrame:
    return pd.concat(
        [pd.read_parquet(cell_dir / f) for f in ("requests.parquet", "outside.parquet")],
        ignore_index=True,
    )


@pytest.mark.parametrize("scenario", sorted(PARAMS))
def test_two_workers_reconcile_their_held_connections(tmp_path: Path, scenario: str) -> None:
    suite = live_suite(scenario, 300, ["coroutine"])
    (cell,) = suite.cells()
    # A master port and token as a run gives them (harness/runner.py).
    dist = with_run_master_port(Distribution(local_workers=2))
    options = CellOptions(
        suite=suite, placement=placements.choose("split"), workers=2, distribution=dist
    )
    info = run_cell(cell, tmp_path, options)
    assert info.status == "ok", info.reason
    record = json.loads((tmp_path / "cell.json").read_text())
    both = records(tmp_path)
    assert record["records"] == record["locust_requests"] == len(both)
    assert record["problems"] == []
    summary = read_summary(tmp_path)
    assert summary is not None and len(summary.workers) == 2
    # Locust's dispatcher split the users; each worker recorded its share.
    assert all((w.records or 0) > 0 for w in summary.workers)
    assert sum(w.records or 0 for w in summary.workers) == len(both)
    if scenario == "ws-feed":
        shakes = both[both["endpoint"] == "/ws/feed:connect"]
        assert len(shakes) == 300 and shakes["ok"].all()
    figures = ConnectionFigures.read(tmp_path)
    assert figures is not None and figures.held_start == 300
    # Each worker's own memory readings (after its imports) make the load side's figure.
    assert summary.rss_held_bytes is not None
    assert 0 < figures.locust_rss_before_mb < figures.locust_rss_mb


USER_FILE = textwrap.dedent(
    '''
    """A user's own Locust file: websocket-client, as its documentation shows it."""
    import time

    import websocket
    from locust import User, constant, task

    from loadgen.websocket_user import WebSocketUser  # still importable for users' files


    class MyEcho(User):
        wait_time = constant(0.05)

        def on_start(self):
            url = "ws" + self.host.removeprefix("http") + "/ws/echo?ms=0"
            self.ws = websocket.create_connection(url)

        @task
        def echo(self):
            start, t0 = time.time(), time.perf_counter()
            self.ws.send("hello")
            answer = self.ws.recv()
            self.environment.events.request.fire(
                request_type="WS",
                name="my-echo",
                response_time=(time.perf_counter() - t0) * 1000,
                response_length=len(answer),
                exception=None if answer == "hello" else ValueError(answer),
                start_time=start,
                context={},
            )

        def on_stop(self):
            self.ws.close()
    '''
)


def test_a_users_own_websocket_client_user_still_runs(tmp_path: Path) -> None:
    locustfile = tmp_path / "my_echo.py"
    locustfile.write_text(USER_FILE)
    suite = parse_suite(
        {
            "name": "mine",
            "duration_s": 1.5,
            "warmup_s": 0.5,
            "variants": ["coroutine"],
            "users": [3],
            "scenarios": [{"file": str(locustfile), "verify": ["/hello"]}],
        },
        "mine.toml",
    )
    (cell,) = suite.cells()
    out = tmp_path / "cell"
    info = run_cell(cell, out, CellOptions(suite=suite, placement=placements.choose("split")))
    assert info.status == "ok", info.reason
    record = json.loads((out / "cell.json").read_text())
    reqs = pd.read_parquet(out / "requests.parquet")
    assert record["records"] == record["locust_requests"] == len(records(out))
    assert len(reqs) > 20 and set(reqs["endpoint"]) == {"my-echo"} and reqs["ok"].all()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_2000_feed_connections_held_on_every_strategy(tmp_path: Path) -> None:
    """Every strategy holds all 2,000 at the window's start, its generator under 50 % of its
    core (the single Locust process's busiest second too)."""
    # suites/connections.toml's feed: a 64-byte message every 2 s.
    feed = {"interval_ms": 2000, "bytes": 64}
    suite = live_suite("ws-feed", 2000, sorted(VARIANTS), duration_s=3.0, params=feed)
    options = CellOptions(suite=suite, placement=placements.choose("split"))
    seen = {}
    for cell in suite.cells():
        cell_dir = tmp_path / cell.cell_id
        info = run_cell(cell, cell_dir, options)
        assert info.status == "ok", (cell.cell_id, info.reason)
        figures = ConnectionFigures.read(cell_dir)
        summary = read_summary(cell_dir)
        assert figures is not None and summary is not None
        record = json.loads((cell_dir / "cell.json").read_text())
        (worker,) = summary.workers
        seen[cell.strategy] = (figures.held_start, record["loadgen_cpu_pct"], worker.lag)
        assert figures.held_start == 2000, (cell.cell_id, figures)
        assert figures.connect_failures == 0
        assert record["loadgen_cpu_pct"] < 50, (cell.cell_id, record["loadgen_cpu_pct"])
        busiest = worker.lag.cpu_busiest_pct
        assert math.isnan(busiest) or busiest < 90, (cell.cell_id, busiest)
    assert set(seen) == set(VARIANTS)
