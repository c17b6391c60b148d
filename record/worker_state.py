"""What a Locust worker started by `run_bench.py worker` tells its supervisor
(harness/remote_worker.py) through its state file (BENCH_WORKER_STATE), written by
loadgen/worker.py: it joined, it was refused (and why), the run is over, or its master went
silent. One line of text in the file, one typed value on either side."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path


class WorkerState(Enum):
    JOINED = "joined"
    REFUSED = "refused"
    RUN_OVER = "run over"
    MASTER_LOST = "master lost"


_SEP = ": "


@dataclass(frozen=True)
class StateNote:
    state: WorkerState
    reason: str = ""  # why it was refused

    def to_text(self) -> str:
        return self.state.value + (_SEP + self.reason if self.reason else "")

    @classmethod
    def from_text(cls, text: str) -> StateNote | None:
        """The note in a state file's text; None for an empty or unknown one."""
        word, _, reason = text.partition(_SEP)
        try:
            return cls(WorkerState(word.strip()), reason)
        except ValueError:
            return None

    def write(self, path: Path) -> None:
        path.write_text(self.to_text())

    @classmethod
    def read(cls, path: Path) -> StateNote | None:
        """The worker's last note; None before it wrote one."""
        try:
            return cls.from_text(path.read_text())
        except OSError:
            return None
