"""A cell's profile as the analysis reads it: its record and both views' stacks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from record import stacks
from record.layout import CellLayout
from record.profile import GIL, WALL, ProfileRecord
from record.stacks import Stack

# The views by what they answer: where the interpreter ran (the thread holding the GIL at
# each tick), and where every thread was (idle ones included).
CPU_VIEW, WALL_VIEW = GIL, WALL


@dataclass(frozen=True)
class CellProfile:
    cell_id: str
    record: ProfileRecord
    wall: tuple[Stack, ...] = ()
    gil: tuple[Stack, ...] = ()

    def view(self, name: str) -> tuple[Stack, ...]:
        return self.gil if name == GIL else self.wall

    @property
    def roots(self) -> tuple[str, ...]:
        return self.record.roots


def load(cell_dir: Path, cell_id: str = "") -> CellProfile | None:
    """A cell's profile (its stacks only when it was taken); None without profile.json."""
    record = ProfileRecord.read(cell_dir)
    if record is None:
        return None
    if not record.ok:
        return CellProfile(cell_id or cell_dir.name, record)
    layout = CellLayout(cell_dir)
    views = {v: tuple(stacks.read(layout.profile_stacks(v), record.root_pid)) for v in (WALL, GIL)}
    return CellProfile(cell_id or cell_dir.name, record, views[WALL], views[GIL])
