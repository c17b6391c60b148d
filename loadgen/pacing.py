"""Open-loop load: requests sent on a schedule that never waits for answers (as wrk2, k6's
arrival-rate executors and Gatling's open injection do), so a stalled server cannot stall the
load and hide the requests that would have queued behind the stall (coordinated omission).

The schedule is split over `users` Locust users, the most requests that may be in flight at
once: user s owns slots s, s + U, s + 2U, ... of the offered rate (constant arrivals), or an
independent Poisson stream of rate/U (the sum of U Poisson streams is a Poisson stream of the
rate). A user sends each request at its slot; only when all U users are still waiting for
answers is a send late, and then the request still records the slot it should have had
(`intended_start`), so the latency measured from the slot (the corrected latency) includes
the wait the schedule imposed. This module imports no Locust: the plugin applies it.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

INTENDED = "intended_start"  # the request context key the recorder reads
CONSTANT, POISSON = "constant", "poisson"
ARRIVALS = (CONSTANT, POISSON)


@dataclass
class Schedule:
    """One user's slice of the schedule: successive intended send times."""

    rate: float  # offered requests per second, all users together
    users: int
    slot: int  # this user's place among the users, 0..users-1
    t0: float
    arrivals: str = CONSTANT
    seed: int = 0
    _k: int = 0
    _next: float = field(default=math.nan, init=False)
    _rng: random.Random = field(default_factory=random.Random, init=False)

    def __post_init__(self) -> None:
        if not self.rate > 0 or self.users < 1 or not 0 <= self.slot < self.users:
            raise ValueError("a schedule needs a positive rate and a slot among the users")
        if self.arrivals not in ARRIVALS:
            raise ValueError(f"arrivals must be one of {', '.join(ARRIVALS)}")
        self._rng.seed(self.seed * 1_000_003 + self.slot)
        if self.arrivals == CONSTANT:
            self._next = self.t0 + self.slot / self.rate
        else:
            self._next = self.t0 + self._rng.expovariate(self.rate / self.users)

    def take(self) -> float:
        """The next intended send time; the schedule moves on whatever happens to it."""
        due = self._next
        self._k += 1
        if self.arrivals == CONSTANT:
            self._next = self.t0 + (self.slot + self._k * self.users) / self.rate
        else:
            self._next += self._rng.expovariate(self.rate / self.users)
        return due


class OpenLoop:
    """Hands out schedules to the users of one Locust process as they start."""

    def __init__(
        self,
        *,
        rate: float,
        users: int,
        arrivals: str,
        process_index: int = 0,
        processes: int = 1,
        clock: Callable[[], float],
        seed: int = 0,
    ) -> None:
        self.rate, self.users, self.arrivals = rate, users, arrivals
        self.process_index, self.processes = process_index, processes
        self.clock = clock
        self.seed = seed
        self.t0: float | None = None
        self._local = itertools.count()
        self._slots: list[int] = []  # the slot of every schedule handed out
        # Each user's latest request: (its slot, when it was sent). At the stop, a slot found
        # here without an answer was sent and was still waiting; any other was never sent.
        self.latest: dict[int, tuple[float, float]] = {}

    def start(self, t0: float) -> None:
        self.t0 = t0
        self._local = itertools.count()
        self._slots = []

    def due(self, until: float) -> list[float]:
        """Every intended send time before `until`, of every schedule handed out: replayed
        from the schedules' own parameters, so a slot that was never sent is counted too."""
        if self.t0 is None:
            return []
        out = []
        for slot in self._slots:
            replay = Schedule(self.rate, self.users, slot, self.t0, self.arrivals, self.seed)
            while (t := replay.take()) < until:
                out.append(t)
        return out

    def schedule(self) -> Schedule:
        """A new user's slice: users are numbered across processes so that, when Locust
        spreads them evenly, every slot of the schedule is owned once."""
        local = next(self._local)
        slot = (local * self.processes + self.process_index) % self.users
        self._slots.append(slot)
        t0 = self.t0 if self.t0 is not None else self.clock()
        return Schedule(self.rate, self.users, slot, t0, self.arrivals, self.seed)


def pace(user_class: type, loop: OpenLoop, sleep: Callable[[float], Any]) -> None:
    """Make a Locust User class send on the schedule: the first request waits for its slot
    after on_start, each later one for the next slot (never for an answer), and every request
    carries its slot in its context."""
    original_on_start = user_class.on_start
    original_context = user_class.context

    def on_start(self: Any) -> None:
        original_on_start(self)
        self._schedule = loop.schedule()
        self._intended = self._schedule.take()
        sleep(max(0.0, self._intended - loop.clock()))

    def wait_time(self: Any) -> float:
        self._intended = self._schedule.take()
        return max(0.0, self._intended - loop.clock())

    def context(self: Any) -> dict[str, Any]:
        # Locust asks for the context as a request starts: that moment is its send time.
        intended = getattr(self, "_intended", math.nan)
        loop.latest[id(self)] = (intended, loop.clock())
        return {**original_context(self), INTENDED: intended}

    user_class.on_start = on_start
    user_class.wait_time = wait_time
    user_class.context = context
