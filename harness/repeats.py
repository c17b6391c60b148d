"""Stability-driven repeats: run every cell min_repeats times (interleaved), then run again,
round by round, only the configurations whose req/s interval is still wider than the suite's
target, until max_repeats. The width comes from the analysis (a callback handed in by
run_bench.py): the harness does not compute statistics itself."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence

from harness.suite.parse import Suite
from record.records import CellSpec

# Half-width of the 95 % interval of the mean of the given req/s values, in % of the mean
# (infinite when it cannot be told yet).
Precision = Callable[[Sequence[float]], float]


class Repeats:
    def __init__(self, suite: Suite, precision: Precision) -> None:
        self.suite = suite
        self.precision = precision
        self.rps: dict[str, list[float]] = defaultdict(list)

    def record(self, cell: CellSpec, rps: float) -> None:
        """A finished cell's req/s (NaN for a cell that is not valid: it adds no evidence)."""
        if math.isfinite(rps):
            self.rps[cell.config_id].append(rps)

    def width_pct(self, config_id: str) -> float:
        return self.precision(self.rps.get(config_id, []))

    def wanted(self, repeat: int) -> list[CellSpec]:
        """Cells of round `repeat` whose configuration has not reached the target yet."""
        assert self.suite.target_ci_pct is not None and self.suite.max_repeats is not None
        if repeat > self.suite.max_repeats:
            return []
        return [
            c
            for c in self.suite.round(repeat)
            if not self.width_pct(c.config_id) <= self.suite.target_ci_pct
        ]

    def unmet(self) -> list[str]:
        """Configurations that ended above the target."""
        target = self.suite.target_ci_pct or math.inf
        configs = {c.config_id for c in self.suite.round(1)}
        return sorted(c for c in configs if not self.width_pct(c) <= target)
