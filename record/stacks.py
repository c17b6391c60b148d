"""A cell's sampled stacks as py-spy writes them (`record --format raw --threads
--subprocesses --full-filenames --nolineno`): one line per distinct stack, its frames from the
root to the leaf joined by ';', then a space and how many samples had it. The harness reads
them to split each process's time (harness/processes/profiler.py) and to write the speedscope
file beside them; the analysis reads them for top frames, layers and flame graphs
(analysis/profile/).

A line's first frames say where it was sampled: `process PID:"COMMAND"` (the sampled process
last, its parents before it) and `thread (TID): NAME`; the rest are Python frames, each
`function (file)`. The raw text stays as py-spy wrote it: this module only reads it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# `process 123:"python -m servers ..."`, then the next process or the thread frame. A command
# line may hold ';' or '"' itself, so each process frame ends only where the next one or the
# thread's frame begins.
_PROCESSES = re.compile(r'((?:process \d+:".*?";)+)(?=thread \()', re.S)
_ONE_PROCESS = re.compile(r'process (\d+):"(.*?)";(?=process \d+:"|$)', re.S)
_THREAD = re.compile(r"thread \(([^)]*)\)(?::\s?(.*))?")
_FRAME = re.compile(r"^(.*) \((.*)\)$")


@dataclass(frozen=True)
class Frame:
    """One Python frame: its function (qualified, as py-spy names it: `Condition.wait`) and
    its file as the sampled process saw it (`/usr/lib/python3.11/threading.py`; '' for a
    frame without one)."""

    name: str
    file: str = ""

    @classmethod
    def parse(cls, text: str) -> Frame:
        found = _FRAME.match(text)
        return cls(found.group(1), found.group(2)) if found else cls(text)


@dataclass(frozen=True)
class Stack:
    """One distinct stack of one thread of one process, and how many samples had it."""

    pid: int
    command: str
    parent: int | None  # the sampled process's parent in the profiled tree (None: its root)
    tid: int
    thread: str
    frames: tuple[Frame, ...]  # root first
    count: int

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError("a stack's sample count must not be negative")

    @property
    def leaf(self) -> Frame | None:
        return self.frames[-1] if self.frames else None


def _tid(text: str) -> int:
    """py-spy names a thread by its native id, or by its pthread id in hex where it has none."""
    return int(text, 16) if text.lower().startswith("0x") else int(text)


def parse_line(line: str, root_pid: int = 0) -> Stack | None:
    """One collapsed line as a Stack; None for a blank or malformed line. root_pid: the pid a
    line without process frames (py-spy without --subprocesses) was sampled in."""
    line = line.rstrip("\n")
    head, _, count = line.rpartition(" ")
    if not head or not count.isdigit():
        return None
    pid, command, parent = root_pid, "", None
    found = _PROCESSES.match(head)
    if found:
        chain = _ONE_PROCESS.findall(found.group(1).rstrip(";") + ";")
        if chain:
            pid, command = int(chain[-1][0]), chain[-1][1]
            parent = int(chain[-2][0]) if len(chain) > 1 else None
        head = head[found.end() :]
    parts = head.split(";")
    thread = _THREAD.fullmatch(parts[0]) if parts else None
    if thread is None:
        return None
    try:
        tid = _tid(thread.group(1))
    except ValueError:
        return None
    frames = tuple(Frame.parse(p) for p in parts[1:] if p)
    return Stack(pid, command, parent, tid, thread.group(2) or "", frames, int(count))


def parse(lines: Iterable[str], root_pid: int = 0) -> list[Stack]:
    return [s for s in (parse_line(line, root_pid) for line in lines) if s is not None]


def read(path: Path, root_pid: int = 0) -> list[Stack]:
    """A collapsed-stacks file; empty when there is none (profiling off, an older run)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return parse(fh, root_pid)
    except FileNotFoundError:
        return []


def per_thread(stacks: Iterable[Stack]) -> dict[tuple[int, int], int]:
    """Samples by (pid, tid)."""
    out: dict[tuple[int, int], int] = {}
    for s in stacks:
        out[(s.pid, s.tid)] = out.get((s.pid, s.tid), 0) + s.count
    return out


def speedscope(views: dict[str, list[Stack]], name: str) -> dict[str, Any]:
    """A speedscope file (https://www.speedscope.app/file-format-schema.json) of the views:
    one sampled profile per view and process, its stacks root first, weighted by samples."""
    frames: list[dict[str, str]] = []
    index: dict[Frame, int] = {}

    def at(frame: Frame) -> int:
        if frame not in index:
            index[frame] = len(frames)
            frames.append(
                {"name": frame.name, "file": frame.file} if frame.file else {"name": frame.name}
            )
        return index[frame]

    profiles = []
    for view, stacks in views.items():
        for pid, own in _by_pid(stacks):
            total = sum(s.count for s in own)
            profiles.append(
                {
                    "type": "sampled",
                    "name": f"{view}: pid {pid} {own[0].command}".rstrip(),
                    "unit": "none",
                    "startValue": 0,
                    "endValue": total,
                    "samples": [[at(f) for f in s.frames] for s in own],
                    "weights": [s.count for s in own],
                }
            )
    return {
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "name": name,
        "exporter": "tornado-bench",
        "activeProfileIndex": 0,
        "shared": {"frames": frames},
        "profiles": profiles,
    }


def _by_pid(stacks: list[Stack]) -> Iterator[tuple[int, list[Stack]]]:
    pids: dict[int, list[Stack]] = {}
    for s in stacks:
        pids.setdefault(s.pid, []).append(s)
    yield from sorted(pids.items())


def write_speedscope(path: Path, views: dict[str, list[Stack]], name: str) -> None:
    from record import io

    io.write_text(path, json.dumps(speedscope(views, name), separators=(",", ":")))
