"""compare's "frames that moved": for each configuration that changed between the runs, the
frames whose share of the server's CPU moved most (analysis/profile/). A configuration's
cells (its repeats) are taken together in each run; a configuration without a profile in
either run is left out."""

from __future__ import annotations

import math
import re

import pandas as pd

from analysis.compare.stats import MIN_EFFECT
from analysis.load import RunData
from analysis.profile import data
from analysis.profile.data import CPU_VIEW
from analysis.profile.readings import moved_text
from analysis.profile.shares import by_label, moved
from record.stacks import Stack

CHANGED = ("faster", "slower")
HEAD = "frames that moved (share of the server's CPU, base → new):"
_REPEAT = re.compile(r"-r\d+$")


def changed(rows: pd.DataFrame) -> list[str]:
    """Configurations whose req/s or p99 changed: a verdict either way, or, where repeats are
    too few to judge, req/s that moved by at least MIN_EFFECT."""
    if rows.empty:
        return []
    judged = rows["rps_direction"].isin(CHANGED) | rows["p99_direction"].isin(CHANGED)
    unjudged = (rows["rps_direction"] == "") & (rows["rps_change"].abs() >= MIN_EFFECT)
    return list(rows.loc[judged | unjudged, "config"].astype(str))


def config_shares(run: RunData, config: str) -> dict[str, float] | None:
    """The configuration's CPU shares by frame, its cells' samples together; None without a
    profile."""
    cells = [c for c in run.records if _REPEAT.sub("", c) == config]
    stacks: list[Stack] = []
    roots: tuple[str, ...] = ()
    for cell_id in cells:
        profile = data.load(run.cell_dir(cell_id), cell_id)
        if profile is not None and profile.record.ok:
            stacks += profile.view(CPU_VIEW)
            roots = roots or profile.roots
    return by_label(stacks, roots) if stacks else None


def frame_lines(base: RunData, new: RunData, rows: pd.DataFrame, n: int = 3) -> list[str]:
    """The lines compare prints: a head, then one line per changed configuration with a
    profile in both runs."""
    lines = []
    for config in changed(rows):
        before, after = config_shares(base, config), config_shares(new, config)
        if before is None or after is None:
            continue
        frames = moved(before, after, n)
        change = rows.loc[rows["config"] == config, "rps_change"].iloc[0]
        rps = f"req/s {change:+.0%}" if math.isfinite(change) else "req/s ?"
        lines.append(f"  {config} ({rps}): " + (moved_text(frames) or "no frame moved by 1 point"))
    return [HEAD, *lines] if lines else []
