"""connections.json: what a cell of a long-lived scenario (ws-echo, ws-feed, poll) measured
about its connections, beside cell.json (schema 5); since schema 9 also any cell whose records
hold connections or long-polls (a user's file on loadgen/users.py). Written by the harness,
read by the analysis; a cell without the file (every other scenario, older runs) has none of
it."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from record import io
from record.errors import UserError
from record.layout import CellLayout

# Fields a connections.json written before schema 9 lacks (their defaults then).
OPTIONAL = ("delivery_p50_ms", "delivery_p99_ms")
# Below this share of its target a cell is marked (valid: not holding them may be the finding).
HELD_SHARE_MIN = 0.95


def _count(value: float) -> bool:
    return math.isnan(value) or value >= 0


@dataclass(frozen=True)
class ConnectionFigures:
    """One cell's connection figures. Counts the servers' /health could not give (no answer
    in time) are NaN; so are memory figures without samples.

    - held_start, held_end: open WebSockets at the window's start and end (summed over the
      server's processes); for poll, the most polls the server held waiting at once;
    - polls_waiting_max: the most polls the server held waiting at once (its own high-water
      mark, summed over processes);
    - connect_*: the handshakes, from every record of the cell (warm-up included);
    - *_rss_before_mb: the process tree's resident memory before the first connection;
      *_rss_mb: its median over the window, with the connections held;
    - delivery_p50_ms, delivery_p99_ms (schema 9): the window's delivery records of a cell
      counted from its records (`<name>:deliver`); None (null) for the built-in scenarios,
      whose delivery is their records' latency itself, and where none was recorded.
    """

    target: int
    held_start: float
    held_end: float
    polls_waiting_max: float
    connects: int
    connect_failures: int
    connect_p99_ms: float
    server_rss_before_mb: float
    server_rss_mb: float
    locust_rss_before_mb: float
    locust_rss_mb: float
    health_readings: int
    delivery_p50_ms: float | None = None
    delivery_p99_ms: float | None = None

    def __post_init__(self) -> None:
        if self.target < 1:
            raise ValueError("connections target must be at least 1")
        if self.connects < 0 or self.connect_failures < 0 or self.health_readings < 0:
            raise ValueError("connection counts must not be negative")
        if self.connect_failures > self.connects:
            raise ValueError("more connect failures than handshakes")
        for name in ("held_start", "held_end", "polls_waiting_max", "connect_p99_ms"):
            if not _count(getattr(self, name)):
                raise ValueError(f"{name} must not be negative")

    def write(self, cell_dir: Path) -> None:
        io.write_json(CellLayout(cell_dir).connections, asdict(self))

    @classmethod
    def read(cls, cell_dir: Path) -> ConnectionFigures | None:
        path = CellLayout(cell_dir).connections
        if not path.exists():
            return None
        data = io.read_json(path)
        names = [f.name for f in fields(cls) if f.name in data or f.name not in OPTIONAL]
        missing = [n for n in names if n not in data]
        if missing:
            raise UserError(f"{path}: missing {', '.join(missing)}")
        values: dict[str, Any] = {n: data[n] for n in names}
        try:
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise UserError(f"{path}: {exc}") from None
