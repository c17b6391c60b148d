"""The facts about each concurrency strategy that the harness, the model and the report need,
without Tornado: importing this module starts nothing and loads no server code.

Nothing outside this module and servers/registry.py compares a variant name as a string; it
asks a fact instead (does it fork? does it await fan-out calls together? how many waits can it
hold at once?). A new strategy is one entry here and one module in servers/.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

LOOPS = ("asyncio", "uvloop")
# How a strategy waits on I/O, as the model counts its waits (README, "Server variants"):
BLOCKS = "blocks"  # the wait blocks the thread that serves requests (one wait per process)
POOL = "pool"  # the wait is offloaded to a bounded pool (one wait per thread or process)
AWAITS = "awaits"  # the wait is awaited on the event loop (every request can wait at once)
# A suite's own running server, or a user's app: the harness knows nothing of its strategy.
TARGET = "target"
# The upstream backend the servers call (/upstream, /fanout): served by the same launcher,
# but no strategy under test.
BACKEND = "backend"


class Style(enum.Enum):
    """How a strategy's handlers are written: the one word every workload's handlers are chosen
    by (servers/: each workload module maps a Style to its handler classes)."""

    BLOCKING = "blocking"  # plain ``def``; a wait blocks the IOLoop
    POOL = "pool"  # ``async def`` that hands blocking work to a thread pool
    AWAITING = "awaiting"  # ``async def`` awaiting non-blocking calls
    GENERATOR = "generator"  # ``@gen.coroutine`` yielding them
    PROCESS_POOL = "process-pool"  # ``async def`` that hands work to a pool of processes

    @property
    def waits(self) -> str:
        """How a wait is counted by the model: BLOCKS, POOL or AWAITS."""
        return _WAITS[self]


_WAITS = {
    Style.BLOCKING: BLOCKS,
    Style.POOL: POOL,
    Style.AWAITING: AWAITS,
    Style.GENERATOR: AWAITS,
    Style.PROCESS_POOL: POOL,
}


@dataclass(frozen=True)
class VariantFacts:
    name: str
    summary: str
    style: Style
    forks: bool = False  # several processes share one listening socket
    concurrent_fanout: bool = False  # /fanout awaits its independent calls together

    @property
    def waits(self) -> str:
        """BLOCKS, POOL or AWAITS (Style.waits)."""
        return self.style.waits

    @property
    def process_pool(self) -> bool:
        """CPU work and waits run in a pool of worker processes: a cell's `processes` is the
        pool's size, and each worker has its own GIL."""
        return self.style is Style.PROCESS_POOL

    def wait_concurrency(self, *, users: int, threads: int, processes: int) -> int:
        """How many requests can be waiting at once (the C of the wait bound U/R vs C/R)."""
        if self.waits == AWAITS:
            return users
        if self.process_pool:
            return min(users, processes)  # one wait per worker process
        per_process = threads if self.waits == POOL else 1
        return min(users, per_process * (processes if self.forks else 1))

    def cpu_parallelism(self, *, users: int, processes: int, cores: int) -> int:
        """Requests that can burn CPU at once: the GIL allows one per process."""
        if self.forks or self.process_pool:
            return min(users, processes, max(cores, 1))
        return 1

    def fanout_calls(self, n: int) -> int:
        """Upstream calls a /fanout request waits for one after another."""
        return 1 if self.concurrent_fanout else n

    def processes(self, configured: int) -> int:
        """Processes that serve requests when the suite configures `configured` (a process
        pool's workers do not: the one server process does)."""
        return configured if self.forks else 1

    def cell_processes(self, *, configured: int, pool: int) -> int:
        """A cell's `processes`: the processes serving (forking strategies), or the workers
        doing the work (a process pool, `pool` of them); the model reads it as such."""
        return pool if self.process_pool else self.processes(configured)


VARIANTS: dict[str, VariantFacts] = {
    v.name: v
    for v in (
        VariantFacts("sync", "plain def handlers; every wait blocks the IOLoop", Style.BLOCKING),
        VariantFacts(
            "coroutine",
            "async def handlers awaiting non-blocking calls one after another",
            Style.AWAITING,
        ),
        VariantFacts(
            "threadpool",
            "blocking calls offloaded to a bounded ThreadPoolExecutor (--threads)",
            Style.POOL,
        ),
        VariantFacts(
            "fanout",
            "async def; independent upstream calls awaited together (list/dict)",
            Style.AWAITING,
            concurrent_fanout=True,
        ),
        VariantFacts(
            "multiprocess",
            "sync handlers in N forked processes sharing one socket (--processes)",
            Style.BLOCKING,
            forks=True,
        ),
        VariantFacts(
            "gencoroutine",
            "@gen.coroutine with yield; fan-out by yielding a list/dict",
            Style.GENERATOR,
            concurrent_fanout=True,
        ),
        VariantFacts(
            "processpool",
            "CPU work and blocking calls in a ProcessPoolExecutor of P workers "
            "(--pool-processes), awaited with run_in_executor",
            Style.PROCESS_POOL,
        ),
    )
}
VARIANT_NAMES = tuple(VARIANTS)


def facts(name: str) -> VariantFacts | None:
    """The facts of a built-in strategy by its name (the summary's `strategy` column, never
    a variant with its options), or None for a target or a user's own app."""
    return VARIANTS.get(name)


def forks(name: str) -> bool:
    v = facts(name)
    return v is not None and v.forks


def process_pool(name: str) -> bool:
    v = facts(name)
    return v is not None and v.process_pool


def concurrent_fanout(name: str) -> bool:
    v = facts(name)
    return v is not None and v.concurrent_fanout


def wait_concurrency(name: str, *, users: int, threads: int, processes: int) -> float:
    v = facts(name)
    if v is None:
        return math.nan
    return float(v.wait_concurrency(users=users, threads=threads, processes=processes))


def cpu_parallelism(name: str, *, users: int, processes: int, cores: int) -> float:
    v = facts(name)
    if v is None:
        return math.nan
    return float(v.cpu_parallelism(users=users, processes=processes, cores=cores))
