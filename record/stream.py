"""The raw records of a cell, streamed to Parquet while the load runs: batches of request rows
arrive (from the Locust process itself, or from each worker through Locust's message API) and
leave as row groups, so no process ever holds a whole cell's requests (DESIGN.md, "Results
layout"; results format 4).

The window rule (record.window) is applied here, once, as rows arrive: answered requests that
completed inside the window go to requests.parquet, the others to outside.parquet, and in an
open loop every slot of the schedule inside the window goes to slots.parquet. Each file keeps
a temp name until close(): a cell stopped half way never leaves a file that looks complete.

A batch is a plain dict of bytes (`encode_batch`), what msgpack carries between processes. Built
without pandas on purpose: pyarrow imports pandas the first time it converts a Python list or a
numpy array (0.4 s), so arrays are made from buffers instead; that keeps the Locust processes
light (loadgen/recorder.py).
"""

from __future__ import annotations

import contextlib
import functools
import math
import sys
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from record import io
from record.schema import (
    OUTSIDE_FILE,
    REQUEST_TABLE,
    REQUESTS_FILE,
    SLOTS_FILE,
    RequestColumn,
    request_arrow_schema,
)
from record.window import Window, late

# A column's wire type: array typecode (sender) and numpy dtype (receiver), little-endian,
# from the request-column table (record/schema.py).
_DTYPES = {"d": "<f8", "i": "<i4", "q": "<i8", "B": "u1"}
WIRE = {c.name: (c.wire, _DTYPES[c.wire]) for c in REQUEST_TABLE if c.wire}
# Rows buffered before they are written as one row group: big enough for fast reads, small
# enough (about 4 MB) to bound memory.
ROW_GROUP_ROWS = 65_536
SLOT_SCHEMA = pa.schema(
    [
        ("intended_start", pa.float64()),
        ("corrected_ms", pa.float64()),
        ("answered", pa.bool_()),
        ("ok", pa.bool_()),
        ("late", pa.bool_()),  # sent over LATE_MS after its slot, or never sent
        ("worker", pa.int32()),
    ]
)

if sys.byteorder != "little":  # the wire format above is the machine's own layout
    raise ImportError("record.stream needs a little-endian machine")


def _arrow(column: RequestColumn, values: np.ndarray, names: pa.Array, types: pa.Array) -> pa.Array:
    """One request column of a row group, typed as the table says (an endpoint index becomes
    its name, and its request type)."""
    if column.name == "endpoint":
        return names.take(_numbers(values, pa.int32()))
    if column.name == "request_type":
        return types.take(_numbers(values, pa.int32()))
    if column.arrow == "bool_":
        return _bools(values)
    return _numbers(values, getattr(pa, column.arrow)())


def new_columns() -> dict[str, array]:
    return {name: array(code) for name, (code, _) in WIRE.items()}


def encode_batch(
    columns: dict[str, array], endpoints: list[str], request_types: list[str] | None = None
) -> dict[str, Any]:
    """One batch as msgpack-ready values: the row count, the endpoint names and each one's
    request type (the endpoint index names both), column bytes."""
    rows = len(columns["start"])
    types = list(request_types) if request_types is not None else [""] * len(endpoints)
    if len(types) != len(endpoints):
        raise ValueError(f"{len(types)} request types for {len(endpoints)} endpoint names")
    return {
        "rows": rows,
        "endpoints": list(endpoints),
        "request_types": types,
        "cols": {name: columns[name].tobytes() for name in WIRE},
    }


def decode_batch(batch: dict[str, Any]) -> dict[str, np.ndarray]:
    """The columns of a batch as numpy arrays (endpoint still as indices); refuses a batch
    whose columns do not all have its row count."""
    rows = int(batch["rows"])
    out = {}
    for name, (_, dtype) in WIRE.items():
        data = np.frombuffer(batch["cols"][name], dtype=dtype)
        if len(data) != rows:
            raise ValueError(f"batch column {name} has {len(data)} rows, expected {rows}")
        out[name] = data
    return out


def _numbers(values: np.ndarray, kind: pa.DataType) -> pa.Array:
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])


def _bools(values: np.ndarray) -> pa.Array:
    bits = np.packbits(values.astype(bool), bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])


def _strings(names: list[str]) -> pa.Array:
    encoded = [n.encode() for n in names]
    offsets = np.zeros(len(encoded) + 1, dtype="<i4")
    offsets[1:] = np.cumsum([len(e) for e in encoded], dtype=np.int64)
    data = b"".join(encoded)
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.string(), len(encoded), buffers)


@functools.cache
def warm() -> None:
    """pyarrow's first conversions (its compute kernels, a batch) take about 80 ms. Paid when
    a Locust process starts (loadgen/local.py, loadgen/master.py), and at the latest when a
    writer is made, never at the first batch inside the measured window, where it would
    delay every send of an open loop."""
    index = _numbers(np.zeros(1, dtype="<i4"), pa.int32())
    arrays = [_numbers(np.zeros(1), pa.float64()), _strings(["x"]).take(index), _bools(np.ones(1))]
    pa.RecordBatch.from_arrays(arrays, names=["a", "b", "c"])
    np.where(np.isnan(np.zeros(1)), 0.0, 1.0)


@dataclass(frozen=True)
class Counts:
    requests: int  # answered, completed inside the window
    outside: int  # answered, completed in the warm-up or the tail
    slots: int  # open loop: slots of the window, answered or not

    @property
    def records(self) -> int:
        return self.requests + self.outside


class _File:
    """One Parquet file written in row groups under a temp name (record.io.atomic_stream)."""

    def __init__(self, path: Path, schema: pa.Schema, stack: contextlib.ExitStack) -> None:
        self.schema = schema
        self.tmp = stack.enter_context(io.atomic_stream(path))
        self.writer = pq.ParquetWriter(self.tmp, schema)
        self.pending: list[pa.RecordBatch] = []
        self.buffered = 0
        self.rows = 0

    def add(self, arrays: list[pa.Array]) -> None:
        if not len(arrays[0]):
            return
        self.pending.append(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
        self.buffered += len(arrays[0])
        self.rows += len(arrays[0])
        if self.buffered >= ROW_GROUP_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.writer.write_table(pa.Table.from_batches(self.pending, schema=self.schema))
            self.pending, self.buffered = [], 0

    def close(self) -> None:
        self.flush()
        self.writer.close()


class RecordWriter:
    """requests.parquet, outside.parquet and (open loop) slots.parquet of one cell."""

    def __init__(self, cell_dir: Path, window: Window, *, open_loop: bool) -> None:
        warm()
        self.window = window
        self._stack = contextlib.ExitStack()
        schema = request_arrow_schema()
        self._requests = _File(cell_dir / REQUESTS_FILE, schema, self._stack)
        self._outside = _File(cell_dir / OUTSIDE_FILE, schema, self._stack)
        self._slots = _File(cell_dir / SLOTS_FILE, SLOT_SCHEMA, self._stack) if open_loop else None
        self.closed = False

    def add(
        self,
        batch: dict[str, Any],
        *,
        worker: int = 0,
        offset_s: float = 0.0,
    ) -> None:
        """One batch from one Locust process. `offset_s` is that process's clock minus the
        master's: its times move onto the master's clock, whose window counts. Its last batch
        says when it stopped (`stopped_at`): an unanswered slot waited until then."""
        cols = decode_batch(batch)
        stopped_at = float(batch.get("stopped_at", math.nan)) - offset_s
        start = cols["start"] - offset_s
        intended = cols["intended_start"] - offset_s
        latency = cols["latency_ms"]
        answered = ~np.isnan(latency)
        inside = answered & self.window.holds(start, latency)
        names = _strings(batch["endpoints"] or [""])
        types = _strings(batch["request_types"] or [""])
        rows = {**cols, "start": start, "intended_start": intended}
        rows["worker"] = np.full(len(start), worker, dtype="<i4")
        rows["request_type"] = cols["endpoint"]
        for target, mask in ((self._requests, inside), (self._outside, answered & ~inside)):
            if not mask.any():
                continue
            target.add([_arrow(c, rows[c.name][mask], names, types) for c in REQUEST_TABLE])
        if self._slots is not None:
            self._add_slots(start, latency, intended, cols["ok"], worker, stopped_at)

    def _add_slots(
        self,
        start: np.ndarray,
        latency: np.ndarray,
        intended: np.ndarray,
        ok: np.ndarray,
        worker: int,
        stopped_at: float,
    ) -> None:
        """Corrected latency runs from the slot to the answer; a slot with no answer by the
        time its process stopped (never sent, or still waiting) counts as waiting until then,
        a lower bound: dropping it would hide exactly the requests a stalled server left
        waiting."""
        assert self._slots is not None
        keep = self.window.contains(intended)
        if not keep.any():
            return
        start, latency, intended, ok = start[keep], latency[keep], intended[keep], ok[keep]
        answered = ~np.isnan(latency)
        end = np.where(answered, start + latency / 1000.0, stopped_at)
        behind = late(start, intended)
        self._slots.add(
            [
                _numbers(intended, pa.float64()),
                _numbers((end - intended) * 1000.0, pa.float64()),
                _bools(answered),
                _bools(ok.astype(bool) & answered),
                _bools(behind),
                _numbers(np.full(len(intended), worker, dtype="<i4"), pa.int32()),
            ]
        )

    def close(self) -> Counts:
        """Write what is buffered and give every file its final name."""
        files = [f for f in (self._requests, self._outside, self._slots) if f is not None]
        for f in files:
            f.close()
        self._stack.close()
        self.closed = True
        return Counts(
            self._requests.rows,
            self._outside.rows,
            self._slots.rows if self._slots is not None else 0,
        )

    def abort(self) -> None:
        """Drop everything: no file of this writer keeps a final name."""
        if self.closed:
            return
        self.closed = True
        for f in (self._requests, self._outside, self._slots):
            if f is not None:
                with contextlib.suppress(Exception):
                    f.writer.close()
        error = RuntimeError("records abandoned")
        self._stack.__exit__(type(error), error, None)
