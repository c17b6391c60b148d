"""What a Locust master and its workers say to each other besides Locust's own messages, one
dataclass per message, checked when read off the wire (a worker may come from another
checkout, or be no worker of ours at all). Each travels as a plain dict, what Locust's
msgpack carries; `to_wire` writes it and `from_wire` reads it back, refusing a wrong shape."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from record.loadgen_summary import HubLag

HELLO, WELCOME, REFUSED = "bench_hello", "bench_welcome", "bench_refused"
PING, PONG = "bench_ping", "bench_pong"
RECORDS, DONE, RUN_OVER = "bench_records", "bench_done", "bench_run_over"


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


class BadMessage(ValueError):
    """A message whose fields are missing or of the wrong type."""


def _field(data: Any, name: str, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(data, dict) or name not in data:
        raise BadMessage(f"no {name}")
    value = data[name]
    # msgpack has one number type per width: an int is a fine float.
    ok = isinstance(value, kind) or (kind is float and isinstance(value, int))
    if not ok or (isinstance(value, bool) and kind in (int, float)):
        raise BadMessage(f"{name} is {type(value).__name__}")
    return value


@dataclass(frozen=True)
class Hello:
    """A worker's first message: who it is (loadgen/identity.py) and where it runs."""

    token: str
    project: str
    locust: str
    byteorder: str
    scenarios: dict[str, str]
    host: str
    pid: int
    local: bool

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_wire(cls, data: Any) -> Hello:
        kinds = {"scenarios": dict, "pid": int, "local": bool}
        values = {f.name: _field(data, f.name, kinds.get(f.name, str)) for f in fields(cls)}
        if not all(
            isinstance(k, str) and isinstance(v, str) for k, v in values["scenarios"].items()
        ):
            raise BadMessage("scenarios must map file names to digests")
        return cls(**values)

    def identity(self) -> dict[str, Any]:
        """What identity.differences compares."""
        return {k: v for k, v in asdict(self).items() if k not in ("host", "pid", "local")}


@dataclass(frozen=True)
class Welcome:
    index: int  # the worker's index in the cell (0, 1, ... in the order admitted)
    t_master: float

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_wire(cls, data: Any) -> Welcome:
        return cls(_field(data, "index", int), float(_field(data, "t_master", float)))


@dataclass(frozen=True)
class Pong:
    """The master's answer to a ping: the worker's send time back, and the master's clock."""

    t_worker: float
    t_master: float

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_wire(cls, data: Any) -> Pong:
        return cls(float(_field(data, "t_worker", float)), float(_field(data, "t_master", float)))


@dataclass(frozen=True)
class Done:
    """A worker's last word on a cell: when it stopped (on the master's clock), how many
    requests Locust counted and it recorded, its CPU, its clock offset and round trip (NaN
    when no ping came back), and how late its event loop ran (record.loadgen_summary.HubLag's
    figures, NaN from a worker that sent none)."""

    stopped_at: float
    locust_requests: int
    records: int
    cpu_pct: float
    offset_s: float
    rtt_ms: float
    lag_samples: int = 0
    lag_p50_ms: float = math.nan
    lag_p99_ms: float = math.nan
    lag_max_ms: float = math.nan
    cpu_busiest_pct: float = math.nan
    cpu_busiest_100ms_pct: float = math.nan
    # Resident bytes when the load started and over the window (loadgen/cpu.py).
    rss_load_start_bytes: float = math.nan
    rss_window_bytes: float = math.nan

    def __post_init__(self) -> None:
        if self.locust_requests < 0 or self.records < 0:
            raise BadMessage("negative counts")
        if self.rss_load_start_bytes < 0 or self.rss_window_bytes < 0:
            raise BadMessage("negative memory")
        try:
            self.lag()
        except ValueError as exc:
            raise BadMessage(str(exc)) from None

    def lag(self) -> HubLag:
        """How late the worker's event loop ran, as loadgen.json keeps it."""
        return HubLag(
            samples=self.lag_samples,
            p50_ms=self.lag_p50_ms,
            p99_ms=self.lag_p99_ms,
            max_ms=self.lag_max_ms,
            cpu_busiest_pct=self.cpu_busiest_pct,
            cpu_busiest_100ms_pct=self.cpu_busiest_100ms_pct,
        )

    def to_wire(self) -> dict[str, Any]:
        """NaN (unknown) travels as None."""
        return {k: None if _nan(v) else v for k, v in asdict(self).items()}

    def known(self, name: str) -> float | None:
        """A figure for the worker's record: None where it is unknown."""
        value = getattr(self, name)
        return None if _nan(value) else float(value)

    @classmethod
    def from_wire(cls, data: Any) -> Done:
        def number(name: str) -> float:
            present = isinstance(data, dict) and data.get(name) is not None  # None: unknown
            return float(_field(data, name, float)) if present else math.nan

        samples = isinstance(data, dict) and data.get("lag_samples") is not None
        return cls(
            stopped_at=float(_field(data, "stopped_at", float)),
            locust_requests=_field(data, "locust_requests", int),
            records=_field(data, "records", int),
            cpu_pct=number("cpu_pct"),
            offset_s=number("offset_s"),
            rtt_ms=number("rtt_ms"),
            lag_samples=_field(data, "lag_samples", int) if samples else 0,
            lag_p50_ms=number("lag_p50_ms"),
            lag_p99_ms=number("lag_p99_ms"),
            lag_max_ms=number("lag_max_ms"),
            cpu_busiest_pct=number("cpu_busiest_pct"),
            cpu_busiest_100ms_pct=number("cpu_busiest_100ms_pct"),
            rss_load_start_bytes=number("rss_load_start_bytes"),
            rss_window_bytes=number("rss_window_bytes"),
        )
