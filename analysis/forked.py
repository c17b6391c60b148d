"""Work shared out between forked worker processes, results in order: the report's passes
over every cell's rows, the curves of the cells its charts show and the charts themselves.
Two cores here; the report reads one cell at a time in each process, so memory follows the
largest cell."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Generic, TypeVar

from catalog.lifeline import die_with_parent

# Past this many items to a chunk, a chunk's results come back before the next is sent: the
# report process then holds fewer results waiting to be put in order.
CHUNK_ITEMS = 64

T = TypeVar("T")
R = TypeVar("R")
# A forked worker's function and items (in_processes): inherited, never pickled.
_WORK: tuple[Callable[[Any], Any], Sequence[Any]] | None = None


def _begin(parent: int, work: Callable[[Any], Any], items: Sequence[Any]) -> None:
    global _WORK
    die_with_parent(parent)
    _WORK = (work, items)


def _apply(chunk: range) -> list[Any]:
    assert _WORK is not None
    work, items = _WORK
    return [work(items[i]) for i in chunk]


class Shared(Generic[R]):
    """[work(item) for item in items] begun at construction in `workers` forked processes,
    the items shared out in chunks; `results()` waits for them, in the items' order, and
    raises what a work call raised. Forked: the work, the items and what they hold (the run's
    records) reach the workers as they are, never pickled; only each chunk's positions and
    the results cross. Each worker dies with this process, even a SIGKILLed one; leaving the
    `with` block stops whatever is still to do. With one core (or fewer than two items) the
    work runs in `results()`, here."""

    def __init__(self, work: Callable[[T], R], items: Sequence[T], workers: int = 2) -> None:
        self.work, self.items = work, items
        self.pool: ProcessPoolExecutor | None = None
        self.futures: list[Future[list[R]]] = []
        workers = min(workers, os.cpu_count() or 1, len(items))
        if workers <= 1:
            return
        # About four chunks a worker (a few costly items, charts, then still share out), at
        # most CHUNK_ITEMS each.
        size = max(1, min(CHUNK_ITEMS, len(items) // (workers * 4)))
        self.pool = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_begin,
            initargs=(os.getpid(), work, items),
        )
        try:  # the workers are forked by the first submissions, here
            for i in range(0, len(items), size):
                self.futures.append(self.pool.submit(_apply, range(i, min(i + size, len(items)))))
        except BaseException:
            self.stop()
            raise

    def results(self) -> list[R]:
        if self.pool is None:
            return [self.work(item) for item in self.items]
        try:
            out = [result for future in self.futures for result in future.result()]
        except BaseException:
            self.stop()
            raise
        self.pool.shutdown()
        self.pool = None
        return out

    def stop(self) -> None:
        """Nothing more is done: the chunks not begun are dropped, the workers killed (a
        chunk under way could take many cells' time to end of itself)."""
        pool, self.pool = self.pool, None
        if pool is None:
            return
        # The executor kills its workers only from Python 3.14 (terminate_workers); before,
        # its own table of them is the one place they are known (emptied by shutdown).
        terminate = getattr(pool, "terminate_workers", None)
        if terminate is not None:
            terminate()
            return
        workers = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in workers:
            process.kill()
            process.join()

    def __enter__(self) -> Shared[R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def in_processes(work: Callable[[T], R], items: Sequence[T], workers: int = 2) -> list[R]:
    """Shared(work, items, workers).results(): the results, in the items' order."""
    with Shared(work, items, workers) as shared:
        return shared.results()
