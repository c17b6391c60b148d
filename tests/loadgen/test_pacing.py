"""The open-loop schedule (loadgen/pacing.py) with a fake clock: sends never wait for
answers while a user is free, and a request always carries its slot."""

from __future__ import annotations

import math

import pytest

from loadgen.pacing import INTENDED, OpenLoop, Schedule, pace


def test_constant_arrivals_cover_every_slot_once() -> None:
    rate, users = 50.0, 7
    times = []
    for s in range(users):
        schedule = Schedule(rate, users, s, 100.0)
        times += [schedule.take() for _ in range(50)]
    times.sort()
    assert times == pytest.approx([100.0 + k / rate for k in range(users * 50)])


def test_poisson_arrivals_have_the_rate() -> None:
    rate, users, horizon = 200.0, 20, 50.0
    count = 0
    for s in range(users):
        sched = Schedule(rate, users, s, 0.0, "poisson", seed=1)
        while sched.take() < horizon:
            count += 1
    # Poisson: the count over the horizon is rate*horizon ± a few sqrt(rate*horizon)
    assert abs(count - rate * horizon) < 4 * math.sqrt(rate * horizon)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


def _simulate(rate: float, users: int, latency, horizon: float) -> list[tuple[float, float]]:  # type: ignore[no-untyped-def]
    """Users run concurrently, as events in time order: a user sends at its slot (or at once
    if the slot has passed), gets its answer `latency(send_time)` later, and only then takes
    the next slot through the paced wait_time. Returns (intended, actual) per send."""
    import heapq

    clock = FakeClock()
    loop = OpenLoop(rate=rate, users=users, arrivals="constant", clock=clock)
    loop.start(0.0)

    class User:
        def on_start(self) -> None:
            pass

        def context(self) -> dict:
            return {}

    pace(User, loop, lambda s: None)
    events: list[tuple[float, int, str, User]] = []
    for i in range(users):
        u = User()
        u.on_start()
        heapq.heappush(events, (u._intended, i, "send", u))
    sends = []
    while events:
        at, i, kind, user = heapq.heappop(events)
        if at >= horizon:
            continue
        clock.now = at
        if kind == "send":
            sends.append((user.context()[INTENDED], at))
            heapq.heappush(events, (at + latency(at), i, "answer", user))
        else:  # the answer is in: the user is free and takes the next slot
            heapq.heappush(events, (at + user.wait_time(), i, "send", user))
    return sends


def test_the_schedule_does_not_wait_for_a_stalled_server() -> None:
    """A server that stalls for 1 s: as many requests are sent during the stall as the rate
    asks (users are free to send), each on its slot."""
    rate = 40.0

    def latency(t: float) -> float:
        return 1.0 if 2.0 <= t < 3.0 else 0.01  # every request sent in [2, 3) takes 1 s

    sends = _simulate(rate, users=60, latency=latency, horizon=5.0)
    during = [s for s in sends if 2.0 <= s[1] < 3.0]
    assert len(during) == pytest.approx(rate * 1.0, abs=1)
    assert max(actual - intended for intended, actual in sends) < 1e-9  # never late


def test_with_too_few_users_sends_are_late_and_keep_their_slot() -> None:
    """Only 5 requests may be in flight: during the stall the schedule runs ahead of the
    sends, and every late request still carries the slot it should have had."""
    sends = _simulate(40.0, users=5, latency=lambda t: 1.0 if 2.0 <= t < 3.0 else 0.01, horizon=5.0)
    late = [(i, a) for i, a in sends if a - i > 0.005]
    assert late and max(a - i for i, a in late) > 0.5
    slots = sorted(i for i, _ in sends)
    assert slots == pytest.approx([k / 40.0 for k in range(len(slots))])  # no slot skipped


def test_one_slow_answer_does_not_make_the_next_sends_late() -> None:
    """Ten users, 40 req/s: one request takes a whole second. The other users are free, so
    they take the slots that come meanwhile: no send is late."""
    slow_once = {"done": False}

    def latency(t: float) -> float:
        if t >= 2.0 and not slow_once["done"]:
            slow_once["done"] = True
            return 1.0
        return 0.01

    sends = _simulate(40.0, users=10, latency=latency, horizon=5.0)
    assert max(actual - intended for intended, actual in sends) < 1e-9


def test_a_subclass_of_a_paced_class_takes_one_slot_per_request() -> None:
    clock = FakeClock()
    loop = OpenLoop(rate=10.0, users=2, arrivals="constant", clock=clock)
    loop.start(0.0)

    class Base:
        def on_start(self) -> None:
            pass

        def context(self) -> dict:
            return {}

    class Sub(Base):
        pass

    pace(Base, loop, clock.sleep)
    pace(Sub, loop, clock.sleep)
    user = Sub()
    user.on_start()
    assert user.context()[INTENDED] == 0.0
    assert loop.next_slot() == pytest.approx(0.1)  # the user took exactly one slot
