"""What the machine around the cells did, in one line for the top of the terminal's output
and of the report: how many measured cells other processes disturbed (contended: never
ranked, never blamed on the code; analysis/validity.py) and by how much."""

from __future__ import annotations

import pandas as pd

from analysis.validity import CONTENDED_PCT


def contention_line(summary: pd.DataFrame) -> str | None:
    """None when no cell was contended."""
    if summary.empty:
        return None
    busy = summary[summary["contended"].fillna(False).astype(bool)]
    if busy.empty:
        return None
    measured = int(summary["status"].isin(["ok", "invalid"]).sum())
    server = pd.to_numeric(busy["foreign_cpu_server"], errors="coerce").max()
    generator = pd.to_numeric(busy["foreign_cpu_generator"], errors="coerce").max()
    return (
        f"machine busy: {len(busy)} of {measured} measured cells contended (other processes "
        f"used up to {server:.0f}% of the server's cores and {generator:.0f}% of the "
        f"generator's, above {CONTENDED_PCT:g}%): not ranked, not compared; run again on a "
        "quiet machine, or with --wait-quiet S"
    )
