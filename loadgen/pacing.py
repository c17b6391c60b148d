"""Open-loop load: requests sent on a schedule that never waits for answers (as wrk2, k6's
arrival-rate executors and Gatling's open injection do), so a stalled server cannot stall the
load and hide the requests that would have queued behind the stall (coordinated omission).

Each Locust process follows one stream of intended send times (its share of the offered rate:
constant arrivals, or Poisson, the sum of Poisson streams being a Poisson stream), and its
`users` Locust users (the most requests that may be in flight at once) take the next slot of
that stream whenever they are free. Only when all of them are still waiting for answers is a
send late, and then the request still records the slot it should have had (`intended_start`),
so the latency measured from the slot (the corrected latency) includes the wait the schedule
imposed. This module imports no Locust: the plugin applies it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from catalog.limits import ARRIVALS

INTENDED = "intended_start"  # the request context key the recorder reads
CONSTANT, POISSON = ARRIVALS


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
    """The schedule of one Locust process: one stream of intended send times (this process's
    share of the offered rate), from which every user, the moment it is free, takes the next
    slot. A send is then late only when every user is busy (the in-flight bound is reached)
    or the generator itself is slow, never because one user's previous answer is slow."""

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
        self._schedule: Schedule | None = None
        # Requests sent and not yet answered: slot → when it was sent. Bounded by the users
        # (each has at most one in flight), so a long cell never grows it.
        self.in_flight: dict[float, float] = {}

    def _stream(self, t0: float) -> Schedule:
        """This process's share: slots p, p + N, p + 2N ... of the offered rate (constant), or
        a Poisson stream of rate/N: the N processes' streams add up to the offered schedule."""
        return Schedule(self.rate, self.processes, self.process_index, t0, self.arrivals, self.seed)

    def start(self, t0: float) -> None:
        self.t0 = t0
        self._schedule = self._stream(t0)
        self.in_flight = {}

    def next_slot(self) -> float:
        """The next slot nobody has taken yet (it may be past: then the send is late)."""
        if self._schedule is None:
            self.start(self.clock())
        assert self._schedule is not None
        return self._schedule.take()

    def due(self, until: float) -> list[float]:
        """Every intended send time before `until`, replayed from the start, so a slot that
        was never taken (never sent) is counted too."""
        if self.t0 is None:
            return []
        replay, out = self._stream(self.t0), []
        while (t := replay.take()) < until:
            out.append(t)
        return out

    def sent(self, slot: float) -> None:
        self.in_flight[slot] = self.clock()

    def answered(self, slot: float) -> None:
        self.in_flight.pop(slot, None)

    def unanswered(self, until: float) -> list[tuple[float, float]]:
        """(sent at, slot) of every slot before `until` with no answer: those still in flight,
        and those never taken (sent at NaN). Slots are taken in schedule order, so the ones
        never taken are the replayed schedule past the number taken."""
        taken = self._schedule._k if self._schedule is not None else 0
        never = [(math.nan, t) for t in self.due(until)[taken:]]
        waiting = [(sent, t) for t, sent in self.in_flight.items() if t < until]
        return waiting + never


PACED = "_tornado_bench_paced"  # marks the functions pace() installed


def pace(user_class: type[Any], loop: OpenLoop, sleep: Callable[[float], Any]) -> None:
    """Make a Locust User class send on the schedule: the first request waits for the next
    free slot after on_start, each later one for the next free slot (never for an answer),
    and every request carries its slot in its context. A subclass of a paced class is paced
    once: a user takes one slot per request whatever its class tree."""
    if getattr(vars(user_class).get("on_start"), PACED, False):
        return
    original_on_start = user_class.on_start
    original_context = user_class.context

    def on_start(self: Any) -> None:
        original_on_start(self)
        if getattr(self, "_slot_taken", False):  # a paced base class's on_start took it
            return
        self._slot_taken = True
        self._intended = loop.next_slot()
        sleep(max(0.0, self._intended - loop.clock()))

    def wait_time(self: Any) -> float:
        self._intended = loop.next_slot()
        return max(0.0, self._intended - loop.clock())

    def context(self: Any) -> dict[str, Any]:
        # Locust asks for the context as a request starts: that moment is its send time.
        intended = getattr(self, "_intended", math.nan)
        loop.sent(intended)
        return {**original_context(self), INTENDED: intended}

    for name, function in (("on_start", on_start), ("wait_time", wait_time), ("context", context)):
        setattr(function, PACED, True)
        setattr(user_class, name, function)
