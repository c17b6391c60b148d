"""The lag probe: how late a Locust process's event loop runs. Everything in a Locust process
shares one gevent hub, so whatever holds it (a Parquet write, a burst of per-message
bookkeeping, a large allocation) delays every timestamp taken meanwhile, and that delay lands
in the published latency. A greenlet sleeps PROBE_S again and again and records how much later
than asked it wakes: on an idle hub well under a millisecond, and as long as the longest block
otherwise. A mean CPU figure cannot show such pauses (100 ms every 2 s is 5 % of a window),
so the probe also keeps the process's busiest second of CPU, and its busiest tenth of a
second.

Figures cover the measured window only, as the CPU mean does (loadgen/cpu.py): the warm-up's
ramp (a thousand WebSocket handshakes) is not what the cell's latency is read from.

The probe found one pause no code of ours asks for: Python's cyclic garbage collector. Its
full collection walks every object alive, and with a thousand users' connections, greenlets
and Locust's own objects that held the hub 100-155 ms in the first broadcast of a ws-feed
window. `freeze_heap` moves what is alive at the load's start and at the window's start out
of the collector's reach (gc.freeze), so a collection in the window walks only what the window
allocated; the collector still runs, so cycles made in the window are still freed.
"""

from __future__ import annotations

import gc
import math
import time
from array import array

import gevent

from record.loadgen_summary import HubLag

# The probe's sleep: the 10 ms, short enough to see a 20 ms pause. About 100 wakes a
# second cost 1.3 % of a core on the 2-core VM it was measured on (0.13-0.15 ms a wake, most
# of it the kernel's timer and the hub's turn: a bare time.sleep loop costs 0.05 ms a wake).
PROBE_S = 0.010
# The lengths of the CPU readings: the busiest second is what the generator rule compares
# with its limit, next to the window's mean; the busiest tenth of a second shows a burst of
# many short callbacks (a broadcast reaching a thousand subscribers) that holds the hub for
# no long stretch, so the lag stays low while messages queue in the kernel behind it.
CPU_PERIOD_S = 1.0
CPU_BURST_S = 0.1


class _Busiest:
    """The highest CPU share (% of one core) over consecutive periods of at least `period_s`
    (a period ends at the first wake past it: a stalled hub makes it longer, not skipped)."""

    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        self.pct = math.nan
        self._at: tuple[float, float] | None = None  # (monotonic, process CPU) of its start

    def update(self, now: float, cpu: float) -> None:
        if self._at is None:
            self._at = (now, cpu)
        elif now - self._at[0] >= self.period_s:
            pct = (cpu - self._at[1]) / (now - self._at[0]) * 100.0
            if not pct <= self.pct:  # NaN at first
                self.pct = pct
            self._at = (now, cpu)


def freeze_heap(begin_in_s: float) -> None:
    """gc.freeze now (imports, Locust's set-up) and again at the window's start, `begin_in_s`
    from now (the warm-up's connections and users). Both take microseconds: they move the
    collector's lists, they do not walk them."""
    gc.freeze()
    gevent.spawn_later(max(0.0, begin_in_s), gc.freeze)


def nearest_rank(ordered: list[float], p: float) -> float:
    """The p-th percentile (0 < p <= 100) of sorted values by nearest rank (the project's
    rule, analysis/cellstats.py); NaN for none."""
    if not ordered:
        return math.nan
    rank = math.ceil(p / 100.0 * len(ordered))
    return ordered[min(max(rank, 1), len(ordered)) - 1]


class LagProbe:
    """Started when the load starts, read when it stops. `begin_in_s` and `length_s` place
    the measured window from the start, as the process's CpuWatch does."""

    def __init__(self) -> None:
        self._lags_ms = array("d")
        self._greenlet: gevent.Greenlet | None = None
        self._second = _Busiest(CPU_PERIOD_S)
        self._burst = _Busiest(CPU_BURST_S)
        self._window = (math.inf, math.inf)  # on time.monotonic()

    def start(self, begin_in_s: float, length_s: float) -> None:
        self.stop()
        self._lags_ms = array("d")
        self._second, self._burst = _Busiest(CPU_PERIOD_S), _Busiest(CPU_BURST_S)
        now = time.monotonic()
        self._window = (now + max(0.0, begin_in_s), now + max(0.0, begin_in_s) + length_s)
        self._greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        loop = gevent.get_hub().loop
        start, end = self._window
        while True:
            # The loop's clock is cached at each turn: refreshed, the timer is due PROBE_S
            # from now, not from when the turn began.
            loop.update_now()
            asked = time.monotonic() + PROBE_S
            gevent.sleep(PROBE_S)
            woke = time.monotonic()
            if woke < start:
                continue
            if woke >= end:
                return
            self._lags_ms.append(max(0.0, woke - asked) * 1000.0)
            # Process CPU, every thread of it (a writer thread's too), one clock read a wake.
            cpu = time.process_time()
            self._second.update(woke, cpu)
            self._burst.update(woke, cpu)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None

    def figures(self) -> HubLag:
        """What the probe saw of the window so far (stops it)."""
        self.stop()
        ordered = sorted(self._lags_ms)
        return HubLag(
            samples=len(ordered),
            p50_ms=nearest_rank(ordered, 50),
            p99_ms=nearest_rank(ordered, 99),
            max_ms=ordered[-1] if ordered else math.nan,
            cpu_busiest_pct=self._second.pct,
            cpu_busiest_100ms_pct=self._burst.pct,
        )
