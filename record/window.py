"""The measured window, written once: a request counts when it *completed* inside
[start, end). Locust keeps loading past the window's end, so a request cut off when Locust
stops can never distort the rate, which counting by start time cannot promise when latencies
are seconds long (sync at 50 users: 2.5 s). Works on scalars and on numpy/pandas arrays alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# A request sent more than this after its slot in an open-loop schedule was late
# (summary.csv: late_pct).
LATE_MS = 5.0


def completed_at(start: Any, latency_ms: Any) -> Any:
    """When a request's last byte arrived (epoch seconds)."""
    return start + latency_ms / 1000.0


def late(start: Any, intended: Any) -> Any:
    """True where a request was sent more than LATE_MS after its slot (`intended`), and where
    a slot's request was never sent (start NaN): the schedule fell behind either way. A row
    with no slot (intended NaN, a closed loop) is never late."""
    start, intended = np.asarray(start, dtype=float), np.asarray(intended, dtype=float)
    with np.errstate(invalid="ignore"):
        behind = (start - intended) * 1000.0 > LATE_MS
    return behind | (np.isnan(start) & ~np.isnan(intended))


@dataclass(frozen=True)
class Window:
    start: float
    end: float

    def __post_init__(self) -> None:
        if not self.end >= self.start:
            raise ValueError(f"window ends ({self.end}) before it starts ({self.start})")

    @property
    def duration_s(self) -> float:
        return self.end - self.start

    def holds(self, start: Any, latency_ms: Any) -> Any:
        """True where a request sent at `start` that took `latency_ms` counts."""
        done = completed_at(start, latency_ms)
        return (done >= self.start) & (done < self.end)

    def contains(self, t: Any) -> Any:
        """True where an instant falls inside [start, end): a slot of the schedule, a poll
        that stands for the second after it."""
        return (t >= self.start) & (t < self.end)

    def covers(self, t: Any) -> Any:
        """True where an instant falls inside [start, end], both ends included: a resource
        sample, which measures the interval before it, counts at the window's end too."""
        return (t >= self.start) & (t <= self.end)

    def holds_frame(self, frame: Any) -> Any:
        """The same rule on a frame with start and latency_ms columns (a boolean mask)."""
        return self.holds(frame["start"], frame["latency_ms"])

    def intersect(self, other: Window) -> Window:
        """Where two measurements overlap (several load generators: where all measured)."""
        start, end = max(self.start, other.start), min(self.end, other.end)
        return Window(start, max(start, end))

    def to_dict(self) -> dict[str, float]:
        return {"start": self.start, "end": self.end}
