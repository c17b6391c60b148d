"""Runs a suite: the cell matrix in order, progress, resume, run.json. Completed cells are on
disk the moment they finish, so nothing that finished is lost to a later failure or Ctrl-C."""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import pandas as pd

from analysis.aggregate import LOADGEN_CPU_LIMIT_PCT, cell_stats
from harness import io
from harness.cell import CellOptions, Placement, estimate_cell_s, run_cell
from harness.env import collect_environment
from harness.errors import UserError
from harness.suite import Cell, Suite

DONE_STATUSES = ("ok", "invalid", "failed")


@dataclass
class RunOutcome:
    run_dir: Path
    counts: dict[str, int]
    interrupted: bool = False


def new_run_dir(out: Path, suite: Suite) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_dir = out / f"{stamp}-{suite.name}"
    n = 1
    while run_dir.exists():
        n += 1
        run_dir = out / f"{stamp}-{suite.name}-{n}"
    return run_dir


def load_run_suite(run_dir: Path) -> tuple[Suite, dict[str, Any]]:
    meta = io.read_json(run_dir / "run.json")
    meta.pop("schema_version", None)  # write_json adds the current one back
    return Suite.from_dict(meta["suite"]), meta


def cell_done(cell_dir: Path) -> bool:
    try:
        return io.read_json(cell_dir / "cell.json").get("status") in DONE_STATUSES
    except UserError:
        return False


def quick_line(cell: Cell, info: dict[str, Any]) -> tuple[str, str]:
    """Status word and one line about a finished cell for the progress display."""
    status = info["status"]
    if status != "ok":
        return status, info.get("reason", "")
    cell_dir = Path(info["_dir"])
    reqs = pd.read_parquet(cell_dir / "requests.parquet")
    window = info["window"]
    stats = cell_stats(reqs, window["end"] - window["start"])
    flags = []
    loadgen = info.get("loadgen_cpu_pct", math.nan)
    if loadgen > LOADGEN_CPU_LIMIT_PCT:
        flags.append(f"loadgen {loadgen:.0f}% CPU")
    if stats["error_rate"] > info["suite"]["max_error_rate"]:
        flags.append(f"errors {stats['error_rate']:.1%}")
    word = "invalid" if flags else "ok"
    line = f"{stats['rps']:9.1f} req/s  p95 {stats['p95_ms']:8.1f} ms"
    if flags:
        line += "  [" + ", ".join(flags) + "]"
    return word, line


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM to the harness is handled like Ctrl-C: stop cleanly, keep what finished."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def run_suite(
    suite: Suite,
    run_dir: Path,
    *,
    workers: int = 1,
    placement: str | None = None,
    quiet: bool = False,
    resume_meta: dict[str, Any] | None = None,
) -> RunOutcome:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    run_dir.mkdir(parents=True, exist_ok=True)
    chosen = Placement.choose(placement or suite.placement)
    options = CellOptions(suite=suite, placement=chosen, workers=workers)
    cells = suite.cells()
    meta: dict[str, Any] = resume_meta or {
        "run_id": run_dir.name,
        "suite": suite.to_dict(),
        "environment": collect_environment(),
        "started": time.time(),
        "cells": [c.cell_id for c in cells],
        "options": {"workers": workers, "placement": chosen.to_dict()},
    }
    meta["status"] = "running"
    meta.setdefault("resumed", [])
    if resume_meta is not None:
        meta["resumed"].append(time.time())
    io.write_json(run_dir / "run.json", meta)

    todo = [c for c in cells if not cell_done(run_dir / "cells" / c.cell_id)]
    counts = {"ok": 0, "invalid": 0, "failed": 0, "skipped": len(cells) - len(todo)}
    console = Console(stderr=False, quiet=quiet, highlight=False)
    total_s = sum(estimate_cell_s(suite, c) for c in todo)
    if not quiet:
        console.print(
            f"[bold]{suite.name}[/]: {len(cells)} cells"
            + (f" ({counts['skipped']} already done)" if counts["skipped"] else "")
            + f", about {total_s / 60:.1f} min → {run_dir}"
        )
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
        transient=True,
    )
    interrupted = False
    with sigterm_as_interrupt(), progress:
        task = progress.add_task("cells", total=len(todo))
        try:
            for cell in todo:
                progress.update(task, description=cell.cell_id)
                cell_dir = run_dir / "cells" / cell.cell_id
                info = run_cell(cell, cell_dir, options)
                info["_dir"] = str(cell_dir)
                word, line = quick_line(cell, info)
                counts[word if word in counts else "failed"] += 1
                colour = {"ok": "green", "invalid": "yellow"}.get(word, "red")
                progress.console.print(
                    f"[{colour}]{word:8}[/] {cell.cell_id:48} {line}", soft_wrap=True
                )
                progress.advance(task)
        except KeyboardInterrupt:
            interrupted = True
    meta["status"] = "interrupted" if interrupted else "complete"
    meta["ended"] = time.time()
    io.write_json(run_dir / "run.json", meta)
    return RunOutcome(run_dir=run_dir, counts=counts, interrupted=interrupted)
