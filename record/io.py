"""Every results file is written atomically and every JSON file carries a schema version,
checked on read, so a crash never leaves a half file and an old reader never misreads a new
layout.

The write is the classic one (write a temp file beside the target, fsync it, rename it over the
target, fsync the directory): rename is atomic on POSIX, and the directory fsync makes the rename
itself survive a power cut, not only the bytes.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from record.errors import UserError
from record.schema import READABLE_VERSIONS, SCHEMA_VERSION


@functools.cache
def _file_mode() -> int:
    """0666 less the umask: what open() would give. mkstemp's 0600 would make a results folder
    unreadable to colleagues and web servers it is copied to."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_stream(path: Path | str) -> Iterator[Path]:
    """A temp file beside path for a writer that fills it bit by bit (the records streamed
    while a cell runs, record/stream.py); when the block ends it is fsynced, renamed over path
    and the directory fsynced. If the block raises, the target is untouched and the temp file
    is gone, so a half-written file never carries the final name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _file_mode())
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def exists_or_writing(path: Path | str) -> bool:
    """Whether `path` exists, or an atomic_stream is filling it right now (its temp file)."""
    path = Path(path)
    return path.exists() or any(path.parent.glob(f".{path.name}.*.tmp"))


def atomic_write(path: Path | str, write: Callable[[Path], object]) -> None:
    """Call write(tmp) on a temp file beside path, then as atomic_stream."""
    with atomic_stream(path) as tmp:
        write(tmp)


def write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, data: dict[str, Any]) -> None:
    body = {"schema_version": SCHEMA_VERSION, **data}
    write_text(path, json.dumps(body, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    """A results JSON file as a dict, refusing a schema version this code cannot read."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: not found") from None
    except ValueError as exc:
        raise UserError(f"{path}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version not in READABLE_VERSIONS:
        raise UserError(
            f"{path}: schema_version {version!r} is not supported (this version reads "
            f"{', '.join(map(str, READABLE_VERSIONS))})"
        )
    return data
