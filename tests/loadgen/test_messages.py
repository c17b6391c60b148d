"""The master's and workers' own messages (loadgen/messages.py): what one side writes the
other reads back, and a message of the wrong shape is refused, not half read. (Nothing here
imports Locust: its import monkey-patches this process for gevent.)"""

from __future__ import annotations

import math

import msgpack
import pytest

from loadgen.messages import BadMessage, Done, Hello, Pong, Welcome


def _wire(data: dict) -> dict:
    """Through msgpack, as Locust carries it."""
    return msgpack.unpackb(msgpack.packb(data), raw=False)


def _identity(token: str) -> dict:
    """What loadgen.identity.describe gives, without importing Locust."""
    return {
        "token": token,
        "project": "0.1.0+3fa2c1d09e4b",
        "locust": "2.47.0",
        "byteorder": "little",
        "scenarios": {"hello.py": "0123456789ab"},
    }


def test_a_hello_round_trips_and_names_its_identity() -> None:
    hello = Hello(**_identity("t0k"), host="box", pid=42, local=True)
    back = Hello.from_wire(_wire(hello.to_wire()))
    assert back == hello
    assert back.identity() == _identity("t0k")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d.pop("token"), "no token"),
        (lambda d: d.update(pid="42"), "pid is str"),
        (lambda d: d.update(local=1), "local is int"),
        (lambda d: d.update(scenarios={"a.py": 3}), "scenarios must map"),
    ],
)
def test_a_malformed_hello_is_refused(change, problem) -> None:  # type: ignore[no-untyped-def]
    data = Hello(**_identity("t"), host="h", pid=1, local=False).to_wire()
    change(data)
    with pytest.raises(BadMessage, match=problem):
        Hello.from_wire(data)
    with pytest.raises(BadMessage):
        Hello.from_wire(None)


def test_done_carries_unknown_figures_as_none_and_back_as_nan() -> None:
    done = Done(
        stopped_at=1.5,
        locust_requests=10,
        records=10,
        cpu_pct=12.5,
        offset_s=math.nan,
        rtt_ms=math.nan,
    )
    wire = _wire(done.to_wire())
    assert wire["offset_s"] is None and wire["rtt_ms"] is None
    back = Done.from_wire(wire)
    assert back.known("offset_s") is None and back.known("cpu_pct") == 12.5
    assert (back.stopped_at, back.locust_requests, back.records) == (1.5, 10, 10)
    with pytest.raises(BadMessage, match="negative"):
        Done.from_wire({**wire, "records": -1})
    with pytest.raises(BadMessage, match="no locust_requests"):
        Done.from_wire({k: v for k, v in wire.items() if k != "locust_requests"})


def test_welcome_and_pong_round_trip() -> None:
    assert Welcome.from_wire(_wire(Welcome(index=2, t_master=3.0).to_wire())).index == 2
    pong = Pong.from_wire(_wire(Pong(t_worker=1.0, t_master=2).to_wire()))
    assert (pong.t_worker, pong.t_master) == (1.0, 2.0)
    with pytest.raises(BadMessage):
        Welcome.from_wire({"index": "0", "t_master": 1.0})


def test_done_carries_the_workers_lag_and_an_older_worker_sends_none() -> None:
    done = Done(
        stopped_at=1.5,
        locust_requests=10,
        records=10,
        cpu_pct=12.5,
        offset_s=0.0,
        rtt_ms=0.4,
        lag_samples=300,
        lag_p50_ms=0.2,
        lag_p99_ms=3.5,
        lag_max_ms=41.0,
        cpu_busiest_pct=30.0,
        cpu_busiest_100ms_pct=80.0,
    )
    back = Done.from_wire(_wire(done.to_wire()))
    assert back == done
    lag = back.lag()
    assert (lag.samples, lag.p99_ms, lag.max_ms) == (300, 3.5, 41.0)
    assert (lag.cpu_busiest_pct, lag.cpu_busiest_100ms_pct) == (30.0, 80.0)
    older = {k: v for k, v in done.to_wire().items() if not k.startswith(("lag_", "cpu_b"))}
    unprobed = Done.from_wire(_wire(older)).lag()
    assert unprobed.samples == 0 and math.isnan(unprobed.p99_ms)
    assert math.isnan(unprobed.cpu_busiest_pct)
    with pytest.raises(BadMessage, match="negative"):
        Done.from_wire({**done.to_wire(), "lag_p99_ms": -1.0})
    with pytest.raises(BadMessage, match="lag_samples is str"):
        Done.from_wire({**done.to_wire(), "lag_samples": "300"})
