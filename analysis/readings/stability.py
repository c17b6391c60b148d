"""The report's Stability note: which valid cells' req/s is not known precisely, and how the
work of each forking server was shared between its processes. Pure: it is handed the summary
and each cell's per-process CPU shares (record.records.CellRecord.server_shares)."""

from __future__ import annotations

import math

import pandas as pd

from analysis.precision import STABLE_HALF_WIDTH
from analysis.readings.summary import IMBALANCE_SHARE
from catalog.strategies import forks
from record.records import MEASURED_STATUSES

MAX_LISTED = 10  # unstable cells named in the note; the cells table has every one
REUSEPORT = "reuseport"  # in the cell id of a server started with SO_REUSEPORT (CellSpec)
LOPSIDED_WHY = (
    "Shares can be lopsided because a kept-alive connection stays with the process that "
    "accepted it, and one process can win most accepts; SO_REUSEPORT (cells with "
    f"“{REUSEPORT}” in their id) has the kernel spread connections over the processes."
)


def _cell_name(row: pd.Series, loops: int) -> str:
    loop = f" ({row['loop']})" if loops > 1 else ""
    repeat = f" r{int(row['repeat'])}" if row.get("repeats", 1) > 1 else ""
    return f"{row['variant']} {row['scenario']}{loop} u{int(row['users'])}{repeat}"


def unstable_text(summary: pd.DataFrame) -> str:
    """One sentence naming the valid cells whose 95 % interval of req/s is wider than
    ±STABLE_HALF_WIDTH of it (or unknown: too few samples to tell)."""
    valid = summary[summary["valid"] & summary["rps"].notna()]
    if valid.empty or "stable" not in valid:
        return ""
    loops = summary["loop"].nunique()
    repeats = valid.groupby(["variant", "loop", "scenario", "users"])["repeat"].transform("size")
    bad = valid[~valid["stable"].astype(bool)]
    # Set from values: a Series given to an empty frame would lend it its own index.
    bad = bad.assign(repeats=repeats.loc[bad.index].to_numpy())
    limit = f"±{STABLE_HALF_WIDTH * 100:.0f} %"
    if bad.empty:
        return f"Every valid cell's req/s is known within {limit} (95 % interval)."
    names = []
    for _, row in bad.iterrows():
        half = (row["rps_ci_high"] - row["rps_ci_low"]) / 2 / row["rps"] if row["rps"] else math.nan
        width = f"±{half * 100:.0f} %" if math.isfinite(half) else "interval unknown"
        names.append(f"{_cell_name(row, loops)} ({width})")
    more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
    return (
        f"Not stable (95 % interval of req/s wider than {limit}): "
        + ", ".join(names[:MAX_LISTED])
        + more
        + "."
    )


def _shares_text(shares: dict[str, float]) -> str:
    return " / ".join(f"{v * 100:.0f} %" for v in sorted(shares.values(), reverse=True))


def _forking(summary: pd.DataFrame, shares: dict[str, dict[str, float]]) -> pd.DataFrame:
    """The measured cells of forking servers that have per-process shares."""
    return summary[
        summary["status"].isin(MEASURED_STATUSES)
        & (summary["requests"] > 0)
        & summary["variant"].map(forks).astype(bool)
        & summary["cell_id"].map(lambda c: bool(shares.get(c)))
    ]


def share_lines(summary: pd.DataFrame, shares: dict[str, dict[str, float]]) -> list[str]:
    """One line per forking variant, scenario and loop (SO_REUSEPORT cells apart): each load
    level's per-process share of the server's CPU, busiest first."""
    measured = _forking(summary, shares)
    loops = summary["loop"].nunique()
    measured = measured.assign(reuse=measured["reuse_port"].astype(bool))
    lines = []
    keys = ["variant", "reuse", "scenario", "loop"]
    for (variant, reuse, scenario, loop), group in measured.groupby(keys, sort=True):
        several = group["repeat"].nunique() > 1
        entries = [
            f"u{int(r.users)}{f' r{int(r.repeat)}' if several else ''}: "
            + _shares_text(shares[r.cell_id])
            for r in group.sort_values(["users", "repeat"]).itertuples()
        ]
        name = f"{variant}{' (SO_REUSEPORT)' if reuse else ''} {scenario}"
        name += f" ({loop})" if loops > 1 else ""
        lines.append(f"{name}: " + ", ".join(entries))
    return lines


def stability_items(summary: pd.DataFrame, shares: dict[str, dict[str, float]]) -> list[str]:
    """The note's lines: unstable cells, then per-process shares with why they can be
    lopsided. Empty when the run has nothing to say."""
    if summary.empty:
        return []
    items = [t for t in [unstable_text(summary)] if t]
    lines = share_lines(summary, shares)
    if lines:
        busiest = max(max(shares[c].values()) for c in _forking(summary, shares)["cell_id"])
        why = f" {LOPSIDED_WHY}" if busiest > IMBALANCE_SHARE else ""
        items.append(f"Share of the server's CPU per process, busiest first.{why}")
        items.extend(lines)
    return items
