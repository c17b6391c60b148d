"""What uploads cost the server in memory, read from a run: upload_kb_in_flight per strategy
and body-reading mode at each load level (aggregate.add_upload_memory). Pure: handed the
summary."""

from __future__ import annotations

import pandas as pd

UPLOAD_NOTE = (
    "The server's peak RSS in the window above its RSS before the load, divided by the uploads "
    "in flight (the users). Buffered: Tornado holds each body whole (and briefly a second "
    "copy) before the handler runs; streamed: the handler sees one chunk at a time."
)


def upload_items(summary: pd.DataFrame) -> list[str]:
    """One line per upload scenario and strategy: KiB per upload in flight at each load level,
    lowest load first. Empty when the run has no upload cell with memory figures."""
    if summary.empty or "upload_kb_in_flight" not in summary:
        return []
    cells = summary[summary["upload_kb_in_flight"].notna()]
    items = []
    for (label, variant), group in cells.groupby(["scenario", "variant"], sort=True):
        per_load = group.groupby("users")["upload_kb_in_flight"].mean().sort_index()
        levels = ", ".join(f"{kb:,.0f} KiB at {users}" for users, kb in per_load.items())
        items.append(f"{variant} on {label}: {levels} uploads in flight")
    return items
