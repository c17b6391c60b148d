"""What the Locust side says of a cell when its records are closed (loadgen.json): the window,
the counts, Locust's own count, and one WorkerRecord per load-generating process. Written by
loadgen/local.py (one process) and loadgen/master.py (master and workers) in one shape, read by
harness/outcome.py and harness/calibrate.py through the schema-checked reader; each worker's
record is kept in cell.json as CellRecord.loadgen_workers. Both validate themselves when built
and read the older layouts (a worker without `local` was a local process, one without `lag`
was not probed: NaN figures)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from record import io
from record.schema import LOADGEN_FILE
from record.window import Window


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _nan_float(value: Any) -> float:
    """JSON has no NaN: an unknown figure is written as None and read back as NaN."""
    return math.nan if value is None else float(value)


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else value


@dataclass(frozen=True, kw_only=True)
class HubLag:
    """How late one Locust process's event loop (its gevent hub) ran over the measured window,
    from a probe greenlet that asks to sleep 10 ms again and again and notes how much later
    than asked it woke (loadgen/lag.py). Every timestamp the process takes (a request's end,
    a feed message's arrival) is late by as much while the hub is held, so a lag above what a
    cell's latency can absorb means the generator, not the server, set the figure.

    - samples: wakes inside the window (about 100 a second); 0 where none was taken
    - p50_ms, p99_ms, max_ms: lateness of those wakes in milliseconds, nearest rank; under a
      millisecond or two on an idle hub
    - cpu_busiest_pct: the process's CPU (every thread of it) in its busiest whole second of
      the window, % of one core; a burst of work the window's mean CPU averages away
    - cpu_busiest_100ms_pct: the same over a tenth of a second: near 100 when a burst of many
      short callbacks (a broadcast reaching a thousand subscribers) kept the process busy,
      which queues arrivals in the kernel without holding the hub for long (a low lag)

    NaN: not measured (a process older than the probe, a worker lost before its end)."""

    samples: int = 0
    p50_ms: float = math.nan
    p99_ms: float = math.nan
    max_ms: float = math.nan
    cpu_busiest_pct: float = math.nan
    cpu_busiest_100ms_pct: float = math.nan

    def __post_init__(self) -> None:
        if self.samples < 0:
            raise ValueError(f"lag samples {self.samples} is negative")
        figures = (
            self.p50_ms,
            self.p99_ms,
            self.max_ms,
            self.cpu_busiest_pct,
            self.cpu_busiest_100ms_pct,
        )
        if any(value < 0 for value in figures):  # NaN compares False: unknown is fine
            raise ValueError(f"lag figures {figures} must not be negative")
        if not (self.p50_ms <= self.p99_ms <= self.max_ms) and not any(
            math.isnan(v) for v in figures[:3]
        ):
            raise ValueError(f"lag p50 {self.p50_ms} <= p99 {self.p99_ms} <= max {self.max_ms}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "p50_ms": _json_float(self.p50_ms),
            "p99_ms": _json_float(self.p99_ms),
            "max_ms": _json_float(self.max_ms),
            "cpu_busiest_pct": _json_float(self.cpu_busiest_pct),
            "cpu_busiest_100ms_pct": _json_float(self.cpu_busiest_100ms_pct),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> HubLag:
        data = {} if data is None else data
        if not isinstance(data, dict):
            raise TypeError(f"lag figures are a {type(data).__name__}, not an object")
        return cls(
            samples=int(data.get("samples") or 0),
            p50_ms=_nan_float(data.get("p50_ms")),
            p99_ms=_nan_float(data.get("p99_ms")),
            max_ms=_nan_float(data.get("max_ms")),
            cpu_busiest_pct=_nan_float(data.get("cpu_busiest_pct")),
            cpu_busiest_100ms_pct=_nan_float(data.get("cpu_busiest_100ms_pct")),
        )


NOT_PROBED = HubLag()


@dataclass(frozen=True, kw_only=True)
class WorkerRecord:
    """One Locust process that generated load: its index, where it ran, its clock offset
    from the master (measured when it joined) and round trip, its own mean CPU over the window,
    the rows it recorded, the requests Locust counted for it, and how late its event loop ran
    (`lag`, HubLag: NaN figures where not measured). None: not reported (a worker lost before
    its end of records)."""

    worker: int
    host: str = ""
    pid: int | None = None
    local: bool = True
    offset_s: float | None = None
    rtt_ms: float | None = None
    cpu_pct: float | None = None
    records: int | None = None
    locust_requests: int | None = None
    client_id: str = ""  # Locust's id of a worker under a master; "" for a single process
    lag: HubLag = NOT_PROBED
    # Its resident memory in bytes when the load started (imported, no user yet) and over
    # the window (the mean of its start and end): a long-lived cell's cost per connection on
    # the load side (harness/connections.py). None where not reported (older records).
    rss_load_start_bytes: float | None = None
    rss_window_bytes: float | None = None

    def __post_init__(self) -> None:
        if self.worker < 0:
            raise ValueError(f"worker index {self.worker} is negative")
        for name in ("records", "locust_requests", "rss_load_start_bytes", "rss_window_bytes"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"worker {self.worker}: {name} {value} is negative")

    @property
    def cpu(self) -> float:
        """Its CPU %, NaN where it was not reported."""
        return math.nan if self.cpu_pct is None else self.cpu_pct

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "worker": self.worker,
            "host": self.host,
            "pid": self.pid,
            "local": self.local,
            "offset_s": self.offset_s,
            "rtt_ms": self.rtt_ms,
            "cpu_pct": self.cpu_pct,
            "records": self.records,
            "locust_requests": self.locust_requests,
            "lag": self.lag.to_dict(),
            "rss_load_start_bytes": self.rss_load_start_bytes,
            "rss_window_bytes": self.rss_window_bytes,
        }
        if self.client_id:
            out["client_id"] = self.client_id
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkerRecord:
        return cls(
            worker=int(data.get("worker", 0)),
            host=str(data.get("host") or ""),
            pid=_opt_int(data.get("pid")),
            local=bool(data.get("local", True)),
            offset_s=_opt_float(data.get("offset_s")),
            rtt_ms=_opt_float(data.get("rtt_ms")),
            cpu_pct=_opt_float(data.get("cpu_pct")),
            records=_opt_int(data.get("records")),
            locust_requests=_opt_int(data.get("locust_requests")),
            client_id=str(data.get("client_id") or ""),
            lag=HubLag.from_dict(data.get("lag")),
            rss_load_start_bytes=_opt_float(data.get("rss_load_start_bytes")),
            rss_window_bytes=_opt_float(data.get("rss_window_bytes")),
        )


@dataclass(frozen=True, kw_only=True)
class LoadgenSummary:
    """loadgen.json. `records` = `requests` (rows inside the window) + `outside`; `slots`
    counts an open loop's schedule; `problems` each make the cell invalid; `refused` names the
    workers turned away (a note). `master_lag`: a distributed cell's master's own event loop
    (it times no request, but receives and writes every record); NaN figures for a single
    process, whose lag is its worker entry's."""

    window: Window
    t0: float
    stopped_at: float
    records: int
    requests: int
    outside: int
    slots: int = 0
    locust_requests: int | None = None
    workers: tuple[WorkerRecord, ...] = ()
    problems: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    master_lag: HubLag = NOT_PROBED

    def __post_init__(self) -> None:
        for name in ("records", "requests", "outside", "slots"):
            if getattr(self, name) < 0:
                raise ValueError(f"loadgen summary: {name} {getattr(self, name)} is negative")
        if self.records != self.requests + self.outside:
            raise ValueError(
                f"loadgen summary: records {self.records} != requests {self.requests} "
                f"+ outside {self.outside}"
            )

    @property
    def lag_p99_ms(self) -> float:
        """The generator's lag: the highest p99 among the processes that timed requests (the
        workers, or the single process); NaN where none was probed."""
        known = [w.lag.p99_ms for w in self.workers if not math.isnan(w.lag.p99_ms)]
        return max(known, default=math.nan)

    @property
    def rss_held_bytes(self) -> float | None:
        """What the load-generating processes together held in memory over the window beyond
        what they held when the load started (bytes); None unless every one said both."""
        held = 0.0
        for w in self.workers:
            before, during = w.rss_load_start_bytes, w.rss_window_bytes
            if before is None or during is None or math.isnan(before) or math.isnan(during):
                return None
            held += during - before
        return held if self.workers else None

    @property
    def load_s(self) -> float:
        """From the load's start to its stop (Locust's whole run, window and beyond)."""
        return self.stopped_at - self.t0

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": self.window.to_dict(),
            "t0": self.t0,
            "stopped_at": self.stopped_at,
            "records": self.records,
            "requests": self.requests,
            "outside": self.outside,
            "slots": self.slots,
            "locust_requests": self.locust_requests,
            "workers": [w.to_dict() for w in self.workers],
            "problems": list(self.problems),
            "refused": list(self.refused),
            "master_lag": self.master_lag.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadgenSummary:
        window = data["window"]
        return cls(
            window=Window(float(window["start"]), float(window["end"])),
            t0=float(data["t0"]),
            stopped_at=float(data["stopped_at"]),
            records=int(data["records"]),
            requests=int(data["requests"]),
            outside=int(data["outside"]),
            slots=int(data.get("slots") or 0),
            locust_requests=_opt_int(data.get("locust_requests")),
            workers=tuple(WorkerRecord.from_dict(w) for w in data.get("workers") or ()),
            problems=tuple(str(p) for p in data.get("problems") or ()),
            refused=tuple(str(r) for r in data.get("refused") or ()),
            master_lag=HubLag.from_dict(data.get("master_lag")),
        )


def write_summary(cell_dir: Path, summary: LoadgenSummary) -> None:
    io.write_json(cell_dir / LOADGEN_FILE, summary.to_dict())


def read_summary(cell_dir: Path) -> LoadgenSummary | None:
    """The cell's loadgen.json, or None where Locust wrote none; a file that is not one is a
    UserError naming it."""
    path = cell_dir / LOADGEN_FILE
    if not path.exists():
        return None
    data = io.read_json(path)
    try:
        return LoadgenSummary.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise io.UserError(f"{path}: not a valid loadgen summary ({exc})") from None
