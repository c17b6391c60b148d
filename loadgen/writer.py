"""The cell's records written off the event loop. Everything in a Locust process shares one
gevent hub: a Parquet row group written there (compression and the write itself, 20-40 ms
every 65,536 rows) and the fsyncs at the end held every greenlet, and the pause landed in
the latency of every request in flight (issue 28). Here the RecordWriter (record/stream.py)
runs on one native thread of its own (gevent's ThreadPool, which monkey-patching leaves
native), fed by a bounded queue: the hub only checks a batch's columns and queues it. pyarrow
releases the GIL while it compresses and writes, and the thread runs at a lower priority than
the hub, so on a generator's one core the hub's wake-ups come first.

Measured on 2 cores shared with other work (10 s of 2,500-row batches ten times a second,
the lag probe on the hub, seven runs of each): written on the hub, the lag's maximum was
17-66 ms in six runs of seven; on this thread 4-6 ms in six of seven, as low as with nothing
written at all, for about 0.02 s more CPU in 10 s (the hand-over of each batch). At normal
priority the thread left 8-18 ms in four runs. Holding every batch until the window ended
left the hub as free and cost least CPU, but its memory grows with the cell's length (an
hour at 25,000 rows/s: gigabytes); a writer process cost a second interpreter (0.16-0.23 s
of CPU to start, then the thread's CPU again) and a copy of every batch through a pipe.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from typing import Any

import gevent
from gevent.event import Event
from gevent.threadpool import ThreadPool

from record.stream import Counts, RecordWriter, decode_batch

# Batches that may wait for the thread before add() waits for room (cooperatively: only the
# greenlet that adds waits). A batch is at most 20,000 rows of about 45 bytes (the recorder's
# FLUSH_ROWS), so the queue holds under 60 MB, a minute of one process's batches.
MAX_QUEUED = 64
# The writer thread's nice value: above the hub's, so that on a generator's one core the
# scheduler runs the hub first when both are ready. Linux keeps a nice value per thread.
WRITER_NICE = 10

Batch = tuple[dict[str, Any], int, float]  # (batch, worker, offset_s)


def _lower_priority() -> None:
    """Lower the calling thread's priority (Linux: setpriority on pid 0 is this thread)."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, 0, max(os.getpriority(os.PRIO_PROCESS, 0), WRITER_NICE))


class OffLoopWriter:
    """A RecordWriter whose add() and close() run on a thread of their own. Made, added to and
    closed from the hub's thread only (gevent's thread pools require it); the RecordWriter is
    touched by the writer thread alone once made. A batch the RecordWriter would refuse is
    refused by add() at once, as before; an error while writing is raised by close()."""

    def __init__(self, writer: RecordWriter) -> None:
        self._writer = writer
        self._pool = ThreadPool(1)
        self._queue: deque[Batch] = deque()
        self._wake = Event()
        self._room = Event()
        self._room.set()
        self._closing = False
        self._error: BaseException | None = None
        self.written = 0  # batches the thread has written
        self._pool.spawn(_lower_priority)  # the thread's first task, before any batch
        self._feeder = gevent.spawn(self._feed)

    @property
    def closed(self) -> bool:
        """True once close() or abort() began: no batch is taken from then on."""
        return self._closing

    def add(self, batch: dict[str, Any], *, worker: int = 0, offset_s: float = 0.0) -> None:
        """Queue one batch (RecordWriter.add's arguments). Its columns are checked here, as
        views of its bytes (microseconds); a full queue makes the caller wait for room."""
        if self._closing:
            raise RuntimeError("records added after the writer was closed")
        decode_batch(batch)
        while len(self._queue) >= MAX_QUEUED:
            self._room.clear()
            self._room.wait()
        self._queue.append((batch, worker, offset_s))
        self._wake.set()

    def _feed(self) -> None:
        """Hand what is queued to the thread, wait (cooperatively) until it is written, again;
        until closed and nothing is left."""
        while True:
            self._wake.wait()
            self._wake.clear()
            items = list(self._queue)
            self._queue.clear()
            self._room.set()
            if items and self._error is None:
                try:
                    self._pool.spawn(self._write, items).get()
                except Exception as exc:  # kept for close(): the load goes on meanwhile
                    self._error = exc
            if self._closing and not self._queue:
                return

    def _write(self, items: list[Batch]) -> None:
        for batch, worker, offset_s in items:
            self._writer.add(batch, worker=worker, offset_s=offset_s)
            self.written += 1

    def close(self) -> Counts:
        """Write everything queued, close the files on the thread (the final names, the
        fsyncs) and stop the thread. Raises the first error the thread met, leaving no file."""
        if self._closing:
            raise RuntimeError("the writer is closed")
        self._closing = True
        self._wake.set()
        self._feeder.join()
        try:
            if self._error is not None:
                raise self._error
            counts: Counts = self._pool.spawn(self._writer.close).get()
        except BaseException:
            self._pool.spawn(self._writer.abort).get()
            raise
        finally:
            self._pool.kill()
        return counts

    def abort(self) -> None:
        """Drop everything: no file keeps a final name."""
        if self._closing:
            return
        self._closing = True
        self._feeder.kill()
        self._queue.clear()
        self._pool.spawn(self._writer.abort).get()
        self._pool.kill()
