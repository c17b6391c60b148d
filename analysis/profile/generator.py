"""calibrate --profile's map of the generator: the Locust side's profiles of the calibration's
cells taken together (record/profile.py CALIBRATION_PROFILES), as lines to print and a flame
graph per view written beside them."""

from __future__ import annotations

from pathlib import Path

from analysis.profile import data, flame
from analysis.profile.data import CPU_VIEW, WALL_VIEW, CellProfile
from analysis.profile.readings import layers_line, pct, time_line
from analysis.profile.shares import self_time

TOP = 6
SVG_NAMES = {CPU_VIEW: "generator-cpu.svg", WALL_VIEW: "generator-wall.svg"}


def summary_lines(folder: Path) -> list[str]:
    """What calibrate --profile prints; the flame graphs are written into `folder`."""
    cells = (
        [data.load(d) for d in sorted(folder.iterdir()) if d.is_dir()] if folder.is_dir() else []
    )
    taken = [c for c in cells if c is not None and c.record.ok]
    if not taken:
        reasons = {c.record.reason for c in cells if c is not None and c.record.reason}
        return [
            "generator profile: none taken"
            + (f" ({'; '.join(sorted(reasons))})" if reasons else "")
        ]
    first = taken[0]
    merged = CellProfile(
        "generator",
        first.record,
        tuple(s for c in taken for s in c.wall),
        tuple(s for c in taken for s in c.gil),
    )
    # A view without samples gets no file (an empty SVG would open as a broken image): on a
    # busy machine py-spy's GIL view of a short calibration can catch none.
    written = []
    for view, file_name in SVG_NAMES.items():
        text = flame.svg(
            merged.view(view), first.roots, f"Locust side, {view} ({len(taken)} cells)"
        )
        if text:
            (folder / file_name).write_text(text, encoding="utf-8")
            written.append(str(folder / file_name))
    top = self_time(merged.view(CPU_VIEW), first.roots)[:TOP]
    return [
        f"generator profile ({len(taken)} cells, {folder}):",
        f"  CPU by layer: {layers_line(merged, CPU_VIEW)}",
        "  top frames (CPU): " + ", ".join(f"{s.label} {pct(s.share)}" for s in top),
        *(f"  {c.cell_id}: {time_line(c.record)}" for c in taken[:2]),
        f"  flame graphs: {', '.join(written) or 'none (no samples)'}",
    ]


__all__ = ["summary_lines"]
