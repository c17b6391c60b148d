"""The one validity rule: why a cell's numbers cannot be trusted (DESIGN.md, "Results layout").

Both the live progress line (through the callback run_bench.py hands the harness) and the
report judge cells with `judge`; nothing else decides whether a cell is valid.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

# Above it the generator, not the server, may set the pace.
LOADGEN_CPU_LIMIT_PCT = 90.0
# Above the bound means the model or the measurement is wrong, never a result to publish.
EFFICIENCY_LIMIT = 1.05


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def judge(
    *,
    status: str,
    reason: str,
    requests: int,
    error_rate: float,
    efficiency: float,
    loadgen_cpu_pct: float,
    max_error_rate: float,
) -> list[str]:
    """Notes on one cell; an empty list means the cell is valid."""
    if status == "failed":
        return [f"failed: {reason}" if reason else "failed"]
    if status == "interrupted":
        return ["interrupted"]
    notes = []
    if _present(loadgen_cpu_pct) and loadgen_cpu_pct > LOADGEN_CPU_LIMIT_PCT:
        notes.append(f"load generator at {loadgen_cpu_pct:.0f}% CPU")
    if _present(error_rate) and error_rate > max_error_rate:
        notes.append(f"error rate {error_rate:.1%} above {max_error_rate:.1%}")
    if not requests:
        notes.append("no requests completed in the window")
    if _present(efficiency) and efficiency > EFFICIENCY_LIMIT:
        notes.append(f"{efficiency:.2f}x the model bound: model or measurement wrong")
    return notes


def apply(summary: pd.DataFrame) -> pd.DataFrame:
    """valid and notes columns for every cell; an ok cell with notes becomes invalid.
    Needs status, reason, requests, error_rate, efficiency, loadgen_cpu_pct, max_error_rate."""
    out = summary.copy()
    notes = [
        judge(
            status=row.status,
            reason=str(getattr(row, "reason", "") or ""),
            requests=int(row.requests),
            error_rate=float(row.error_rate),
            efficiency=float(row.efficiency),
            loadgen_cpu_pct=float(row.loadgen_cpu_pct),
            max_error_rate=float(row.max_error_rate),
        )
        for row in out.itertuples(index=False)
    ]
    out["valid"] = [not n for n in notes]
    out["notes"] = ["; ".join(n) for n in notes]
    out.loc[(out["status"] == "ok") & ~out["valid"], "status"] = "invalid"
    return out
