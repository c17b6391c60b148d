"""The process pool's price, read from a run: its CPU per request above the cheapest
strategy's on the same CPU scenario (aggregate.ipc_costs). Pure: handed the summary."""

from __future__ import annotations

import pandas as pd

from analysis import aggregate


def ipc_items(summary: pd.DataFrame) -> list[str]:
    """One line per process-pool strategy, CPU scenario and loop: the round trip per request
    in µs, the smallest scenario first (on /cpu?n=1 the work is almost nothing, so it is the
    clearest figure of the cost itself). Empty when the run has no process pool."""
    if summary.empty:
        return []
    costs = aggregate.ipc_costs(summary)
    services = aggregate.service_times(summary)
    items = []
    for (variant, label, loop), extra in sorted(
        costs.items(), key=lambda kv: services.get((kv[0][1], kv[0][2]), 0.0)
    ):
        work = services.get((label, loop), float("nan"))
        items.append(
            f"{variant} on {label} ({loop}): {extra * 1e6:.0f} µs of CPU per request for the "
            f"round trip to a worker, beside {work * 1e6:.0f} µs for the request itself on "
            "the cheapest strategy"
        )
    return items
