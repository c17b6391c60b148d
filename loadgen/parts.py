"""One Locust process's raw records as a part file: a JSON header, then each column's bytes.

Written with the standard library only: inside Locust, at the moment the load stops, building
a pyarrow table costs about 0.45 s (pyarrow imports pandas on first use), which every cell
would pay. The harness, which has pandas loaded anyway, reads the parts and writes the cell's
Parquet files. Parts are internal: merge_records deletes them once the cell's files exist.
"""

from __future__ import annotations

import json
import struct
from array import array
from pathlib import Path
from typing import Any

from record import io
from record.schema import REQUEST_COLUMNS

# Column name → array typecode (native sizes; the header records each item size).
TYPECODES = {
    "start": "d",
    "latency_ms": "d",
    "endpoint": "i",  # index into the header's endpoint names
    "status": "i",
    "bytes": "q",
    "ok": "b",
    "worker": "i",
    "intended_start": "d",
}
_LENGTH = struct.Struct("<Q")


# start, latency_ms, endpoint, status, bytes, ok, intended_start: one request as recorded.
Row = tuple[float, float, str, int, int, bool, float]


def write_part(path: Path, rows: list[Row], worker: int) -> None:
    names: dict[str, int] = {}
    columns = {c: array(code) for c, code in TYPECODES.items()}
    for start, latency, name, status, size, ok, intended in rows:
        columns["start"].append(start)
        columns["latency_ms"].append(latency)
        columns["endpoint"].append(names.setdefault(name, len(names)))
        columns["status"].append(status)
        columns["bytes"].append(size)
        columns["ok"].append(ok)
        columns["worker"].append(worker)
        columns["intended_start"].append(intended)
    header = json.dumps(
        {
            "rows": len(rows),
            "endpoints": list(names),
            "columns": [[c, TYPECODES[c], columns[c].itemsize] for c in REQUEST_COLUMNS],
        }
    ).encode()

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            fh.write(_LENGTH.pack(len(header)))
            fh.write(header)
            for c in REQUEST_COLUMNS:
                columns[c].tofile(fh)

    io.atomic_write(path, write)


def read_part(path: Path) -> Any:
    """A part as a pandas DataFrame with the request columns and their results-format types."""
    import numpy as np
    import pandas as pd

    data = path.read_bytes()
    (size,) = _LENGTH.unpack_from(data)
    header = json.loads(data[_LENGTH.size : _LENGTH.size + size])
    offset, rows, out = _LENGTH.size + size, header["rows"], {}
    for name, code, itemsize in header["columns"]:
        dtype = np.dtype(code)
        if dtype.itemsize != itemsize:
            raise ValueError(
                f"{path}: column {name} has {itemsize}-byte items, expected {dtype.itemsize}"
            )
        out[name] = np.frombuffer(data, dtype, rows, offset)
        offset += rows * itemsize
    endpoints = np.array(header["endpoints"] or [""], dtype=object)
    frame = pd.DataFrame(
        {
            "start": out["start"],
            "latency_ms": out["latency_ms"],
            "endpoint": endpoints[out["endpoint"]] if rows else np.array([], dtype=object),
            "status": out["status"].astype(np.int32),
            "bytes": out["bytes"].astype(np.int64),
            "ok": out["ok"].astype(bool),
            "worker": out["worker"].astype(np.int32),
            "intended_start": out["intended_start"],
        }
    )
    return frame
