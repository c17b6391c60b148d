"""The enqueue chart: background work pending (queued + in progress) over time since the load
started, one line per strategy in its house look, one panel per scenario and loop, the
measured window (over which the reading's slopes are taken) shaded. Like plot.py, it takes
frames and returns a Figure, or None when there is nothing to show."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from analysis.figures import kit
from analysis.readings.backlog import ONE_PROCESS

WINDOW_COLOUR = "#888888"
WINDOW_ALPHA = 0.12
TITLE = "Respond now, work later: background backlog over time"


def _panel(ax: plt.Axes, group: pd.DataFrame, curves: dict[str, pd.DataFrame]) -> None:
    for variant in kit.variants(group):
        for row in group[group["variant"] == variant].itertuples():
            curve = curves[row.cell_id]
            label = f"{variant} ({ONE_PROCESS})" if row.one_process else variant
            ax.plot(
                curve["since_s"],
                curve["pending"],
                **kit.style(variant).line(),
                lw=1.6,
                ms=3.5,
                label=label,
                zorder=3,
            )
    start, end = group["window_from_s"].min(), group["window_to_s"].max()
    ax.axvspan(start, end, color=WINDOW_COLOUR, alpha=WINDOW_ALPHA, lw=0, zorder=1)
    top = max((float(curves[c]["pending"].max()) for c in group["cell_id"]), default=0.0)
    ax.set_ylim(bottom=0, top=max(top * 1.1, 1.0))
    ax.set_xlim(left=min(0.0, *(float(curves[c]["since_s"].min()) for c in group["cell_id"])))
    ax.set_xlabel("seconds since the load started")
    ax.set_ylabel("jobs pending (queued + in progress)")


def backlog_over_time(table: pd.DataFrame, curves: dict[str, pd.DataFrame]) -> Figure | None:
    """One panel per scenario and loop with enqueue cells that recorded their backlog
    (readings_backlog.backlog_of); None when the run has none."""
    if table.empty:
        return None
    families = {key: g for key, g in table.groupby(["scenario", "loop"], sort=True)}
    loops = table["loop"].nunique()
    fig, axes = kit.panels(len(families), height=4.0)
    for ax, ((scenario, loop), group) in zip(axes, families.items(), strict=True):
        ax.set_title(kit.title(kit.label(scenario, loop, loops)))
        _panel(ax, group, curves)
    window = Patch(color=WINDOW_COLOUR, alpha=WINDOW_ALPHA * 2, lw=0)
    kit.legend(fig, axes, [(window, "measured window (the reading's slopes)")])
    return kit.finish(fig, TITLE)
