"""Runs a suite: the cell matrix in order, progress, resume, run.json. Completed cells are on
disk the moment they finish, so nothing that finished is lost to a later failure or Ctrl-C."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from harness import placement as placements
from harness.cell import CellOptions, run_cell
from harness.env import collect_environment, measure_speed
from harness.suite import Suite
from harness.timing import estimate_cell_s
from record.cells import CellRecord, RunRecord
from record.errors import UserError

# The verdict on a finished cell for the progress line: a status word and one line. The
# harness cannot judge validity itself (that is the analysis's one rule); run_bench.py hands
# it the analysis's judge. Without one, the cell's own status is shown.
Judge = Callable[[CellRecord, Path], tuple[str, str]]


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


def load_run_suite(run_dir: Path) -> tuple[Suite, RunRecord]:
    run = RunRecord.read(run_dir)
    return Suite.from_dict(run.suite), run


def cell_done(cell_dir: Path) -> bool:
    try:
        return CellRecord.read(cell_dir).done
    except UserError:
        return False


def own_status(record: CellRecord, cell_dir: Path) -> tuple[str, str]:
    return record.status, record.reason


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


def _open_run(
    suite: Suite, run_dir: Path, options: CellOptions, resumed: RunRecord | None
) -> RunRecord:
    """run.json at the start of a run (or of a resumed one), status running."""
    if resumed is None:
        run = RunRecord(
            run_id=run_dir.name,
            suite=suite.to_dict(),
            environment=collect_environment(),
            cells=tuple(c.cell_id for c in suite.cells()),
            options={"workers": options.workers, "placement": options.placement.to_dict()},
            started=time.time(),
            speed={"start_s": measure_speed()},
        )
    else:
        run = replace(resumed, status="running", resumed=(*resumed.resumed, time.time()))
    run.write(run_dir)
    return run


def _progress(console: Any, quiet: bool) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
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


def run_suite(
    suite: Suite,
    run_dir: Path,
    *,
    workers: int = 1,
    placement: str | None = None,
    quiet: bool = False,
    resumed: RunRecord | None = None,
    judge: Judge = own_status,
) -> RunOutcome:
    from rich.console import Console

    run_dir.mkdir(parents=True, exist_ok=True)
    options = CellOptions(
        suite=suite, placement=placements.choose(placement or suite.placement), workers=workers
    )
    run = _open_run(suite, run_dir, options, resumed)
    cells = suite.cells()
    todo = [c for c in cells if not cell_done(run_dir / "cells" / c.cell_id)]
    counts = {"ok": 0, "invalid": 0, "failed": 0, "skipped": len(cells) - len(todo)}
    console = Console(stderr=False, quiet=quiet, highlight=False)
    total_s = sum(estimate_cell_s(suite.warmup_s, suite.duration_s, c) for c in todo)
    skipped = f" ({counts['skipped']} already done)" if counts["skipped"] else ""
    console.print(
        f"[bold]{suite.name}[/]: {len(cells)} cells{skipped}, "
        f"about {total_s / 60:.1f} min → {run_dir}"
    )
    interrupted = False
    with sigterm_as_interrupt(), _progress(console, quiet) as progress:
        task = progress.add_task("cells", total=len(todo))
        try:
            for cell in todo:
                progress.update(task, description=cell.cell_id)
                cell_dir = run_dir / "cells" / cell.cell_id
                word, line = judge(run_cell(cell, cell_dir, options), cell_dir)
                counts[word if word in counts else "failed"] += 1
                colour = {"ok": "green", "invalid": "yellow"}.get(word, "red")
                progress.console.print(
                    f"[{colour}]{word:8}[/] {cell.cell_id:48} {line}", soft_wrap=True
                )
                progress.advance(task)
        except KeyboardInterrupt:
            interrupted = True
    status = "interrupted" if interrupted else "complete"
    speed = {**run.speed, "end_s": measure_speed()}
    replace(run, status=status, ended=time.time(), speed=speed).write(run_dir)
    return RunOutcome(run_dir=run_dir, counts=counts, interrupted=interrupted)
