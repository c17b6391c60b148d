"""How long a cell takes: its warm-up (a long-lived cell's covers the ramp of its connections),
the load Locust runs, and the cost around it (the cost for estimates only)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from catalog.strategies import forks
from catalog.workloads import WORKLOADS
from record.records import CellSpec

# Locust keeps loading this long after the measured window closes. Requests are counted by
# completion time, so the tail only has to cover the gap between a response and its record
# (microseconds) and the start skew between several Locust processes (milliseconds).
TAIL_S = 0.1
# Cost of a cell beyond its planned load time (server and Locust start-up, verification,
# teardown, writing records), measured on the smoke suite on a 2-core machine (3 runs: see
# docs/architecture.md); used only for estimates.
CELL_OVERHEAD_S = 1.3
# A forking server starts its processes before it answers /health.
FORK_OVERHEAD_S = 0.8


# The window starts this long after the ramp's last connection was due: the handshakes
# queued at the end of the ramp finish, and the first deliveries reach every connection.
RAMP_SLACK_S = 2.0


def ramp_s(params: dict[str, int]) -> float:
    """How long the cell's connections take to open at its spawn rate."""
    return params["connections"] / params["spawn_rate"]


def warmup_s(params: dict[str, int], warmup: float) -> float:
    """The warm-up of a long-lived cell: the suite's, or the ramp and its slack if longer."""
    return max(warmup, math.ceil((ramp_s(params) + RAMP_SLACK_S) * 10) / 10)


def live_warmup(cell: CellSpec, warmup: float) -> float:
    """The warm-up a cell runs with: a long-lived scenario's covers its ramp."""
    spec = WORKLOADS.get(cell.scenario)
    if spec is None or not spec.live:
        return warmup
    return warmup_s(cell.params, warmup)


def planned_load_s(warmup_s: float, duration_s: float) -> float:
    return warmup_s + duration_s + TAIL_S


def estimate_cell_s(warmup_s: float, duration_s: float, cell: CellSpec) -> float:
    extra = FORK_OVERHEAD_S if forks(cell.strategy) else 0.0
    return planned_load_s(live_warmup(cell, warmup_s), duration_s) + CELL_OVERHEAD_S + extra


def estimate_s(warmup_s: float, duration_s: float, cells: Iterable[CellSpec]) -> float:
    """The time a suite's cells are expected to take (announced before a run, and by list)."""
    return sum(estimate_cell_s(warmup_s, duration_s, c) for c in cells)
