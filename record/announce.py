"""How the launcher tells whoever started it which port the kernel gave it (`--port 0`): a
small JSON file, written whole (a temporary name, then a rename) once the socket is bound, so
a reader sees no file or a complete one. Standard library only: the harness reads it too."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Announcement:
    port: int
    pid: int

    def __post_init__(self) -> None:
        if not (isinstance(self.port, int) and 0 < self.port < 65536):
            raise ValueError(f"announced port {self.port!r} is not a TCP port")
        if not (isinstance(self.pid, int) and self.pid > 0):
            raise ValueError(f"announced pid {self.pid!r} is not a process id")


def write(path: Path, announcement: Announcement) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"port": announcement.port, "pid": announcement.pid}))
    os.replace(tmp, path)


def read(path: Path) -> Announcement | None:
    """The announcement in path, or None while there is none yet."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return Announcement(port=data["port"], pid=data["pid"])


def read_port(path: Path) -> int | None:
    found = read(path)
    return None if found is None else found.port
