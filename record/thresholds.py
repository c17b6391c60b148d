"""A suite's `[[thresholds]]`: an objective on one summary column, for some of its cells.

The harness parses and checks them (harness/suite/thresholds.py), stores them in run.json with
the suite, and stops a run at the first breach of one with `abort_on_fail`; the analysis judges
them (analysis/thresholds.py). The record lives here because both sides read it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from record.schema import SUMMARY_COLUMNS

# Summary columns that name or label a cell rather than measure it: never a threshold's metric.
NOT_METRICS = frozenset(
    {
        "run_id",
        "cell_id",
        "variant",
        "loop",
        "processes",
        "scenario",
        "users",
        "repeat",
        "status",
        "duration_s",
        "valid",
        "notes",
        "stable",
    }
)
METRICS = tuple(c for c in SUMMARY_COLUMNS if c not in NOT_METRICS)


@dataclass(frozen=True, kw_only=True)
class Threshold:
    """`metric` must stay at or below `max` (or at or above `min`) on every matching cell.

    Selectors narrow the cells: `variants` (strategies or apps), `scenario` (a scenario's name,
    e.g. "sleep", or its label with parameters, "sleep-ms50"), `users` and `rates`; an empty
    selector matches every cell."""

    metric: str
    max: float | None = None
    min: float | None = None
    variants: tuple[str, ...] = ()
    scenario: str | None = None
    users: tuple[int, ...] = ()
    rates: tuple[float, ...] = ()
    abort_on_fail: bool = False

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"unknown metric {self.metric!r}; allowed: {', '.join(METRICS)}")
        if (self.max is None) == (self.min is None):
            raise ValueError("give exactly one of max or min")
        limit = self.limit
        if not math.isfinite(limit):
            raise ValueError(f"the limit {limit} is not a finite number")

    @property
    def limit(self) -> float:
        return float(self.max if self.max is not None else self.min)  # type: ignore[arg-type]

    @property
    def upper(self) -> bool:
        """True for `max` (the value must not exceed the limit), False for `min`."""
        return self.max is not None

    @property
    def name(self) -> str:
        """How the threshold is shown: `p99_ms <= 200 (coroutine, sleep)`."""
        sign = "<=" if self.upper else ">="
        scope = [*self.variants]
        if self.scenario:
            scope.append(self.scenario)
        scope += [f"u{u}" for u in self.users] + [f"r{r:g}" for r in self.rates]
        where = f" ({', '.join(scope)})" if scope else ""
        return f"{self.metric} {sign} {self.limit:g}{where}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "max": self.max,
            "min": self.min,
            "variants": list(self.variants),
            "scenario": self.scenario,
            "users": list(self.users),
            "rates": list(self.rates),
            "abort_on_fail": self.abort_on_fail,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Threshold:
        return cls(
            metric=str(data["metric"]),
            max=None if data.get("max") is None else float(data["max"]),
            min=None if data.get("min") is None else float(data["min"]),
            variants=tuple(str(v) for v in data.get("variants") or ()),
            scenario=None if data.get("scenario") is None else str(data["scenario"]),
            users=tuple(int(u) for u in data.get("users") or ()),
            rates=tuple(float(r) for r in data.get("rates") or ()),
            abort_on_fail=bool(data.get("abort_on_fail", False)),
        )


def thresholds_of(suite: dict[str, Any]) -> tuple[Threshold, ...]:
    """The thresholds stored in run.json's suite (none in runs from before they existed)."""
    return tuple(Threshold.from_dict(t) for t in suite.get("thresholds") or ())
