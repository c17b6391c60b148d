"""What the report says about the load generator itself: the machine's calibration (run.json,
from `run_bench.py calibrate`), the cells whose req/s came near the generator's calibrated
ceiling, and each Locust worker's share of a cell run by several. Plain strings and tables
for the template (analysis/report/page.py), which escapes them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from analysis.readings.words import fmt
from analysis.report.tables import Table, html_table
from analysis.validity import CEILING_NEAR_PCT
from record.calibration import Calibration
from record.records import CellRecord

WORKERS_NOTE = (
    "Cells whose load came from several Locust processes: each one's own mean CPU over the "
    "window (a worker near 100 % set the pace), the rows it recorded and the requests Locust "
    "counted for it, its clock offset from the master and the round trip it measured."
)


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _count(value: Any) -> str:
    return f"{int(value):,}" if value is not None else "–"


def _interval(calibration: Calibration) -> str:
    """The ceiling's 95 % interval and repeats (calibrations since it was measured as cells;
    older ones have a single figure: '')."""
    lo, hi = calibration.ceiling_ci.low, calibration.ceiling_ci.high
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return ""
    steady = "" if calibration.converged else ", not steady"
    repeats = calibration.repeats
    n = f", {repeats:.0f} repeats" if math.isfinite(repeats) else ""
    return f" (95 % CI {lo:,.0f}–{hi:,.0f}{n}{steady})"


def calibration_text(calibration: Calibration) -> str:
    """One line of the run's calibration figures; '' for a run without one."""
    ceiling = calibration.ceiling_rps_per_worker
    if not calibration.has_ceiling:
        return ""
    when = calibration.measured_at
    dated = (
        f" ({datetime.fromtimestamp(when, UTC):%Y-%m-%d %H:%M UTC})" if math.isfinite(when) else ""
    )
    parts = [f"ceiling {ceiling:,.0f} req/s per Locust worker" + _interval(calibration)]
    overhead = calibration.listener_overhead_pct
    if math.isfinite(overhead):
        parts.append(f"recording overhead {overhead:.1f} %")
    ratio = calibration.harness_wrk_ratio
    if math.isfinite(ratio):
        harness, wrk = calibration.harness_rps, calibration.wrk_rps
        against = (
            f" ({harness:,.0f} vs {wrk:,.0f} req/s)"
            if math.isfinite(harness) and math.isfinite(wrk)
            else ""
        )
        parts.append(f"Locust/wrk ratio {ratio:.2f}{against}")
    return f"Generator calibration{dated}: " + "; ".join(parts) + "."


def ceiling_warning(summary: pd.DataFrame) -> str:
    """The cells whose req/s passed CEILING_NEAR_PCT of the calibrated ceiling; '' if none."""
    if "ceiling_pct" not in summary:
        return ""
    near = summary[summary["ceiling_pct"] > CEILING_NEAR_PCT]
    if near.empty:
        return ""
    cells = ", ".join(f"{r.cell_id} ({r.ceiling_pct:.0f} %)" for r in near.itertuples())
    return (
        f"Near the load generator's calibrated ceiling (above {CEILING_NEAR_PCT:.0f} % of it): "
        f"{cells}. The generator may have set these cells' pace: their req/s is a lower bound."
    )


def workers_frame(records: Mapping[str, CellRecord], order: list[str]) -> pd.DataFrame:
    """One row per Locust worker of every cell that had more than one, in the run's order."""
    rows = []
    for cell_id in order:
        record = records.get(cell_id)
        if record is None or len(record.loadgen_workers) < 2:
            continue
        for w in record.loadgen_workers:
            offset, rtt = _number(w.offset_s), _number(w.rtt_ms)
            rows.append(
                {
                    "cell": cell_id,
                    "worker": str(w.worker),
                    "host": w.host + ("" if w.local else " (remote)"),
                    "CPU %": w.cpu,
                    "records": _count(w.records),
                    "Locust requests": _count(w.locust_requests),
                    "clock offset ms": offset * 1000.0,
                    "RTT ms": rtt,
                }
            )
    return pd.DataFrame(rows)


def workers_table(records: Mapping[str, CellRecord], order: list[str]) -> Table | None:
    """The per-worker table, or None when no cell had more than one worker."""
    frame = workers_frame(records, order)
    if frame.empty:
        return None
    return html_table(
        frame,
        left={"cell", "worker", "host"},
        formats={"records": str, "Locust requests": str, "clock offset ms": lambda v: fmt(v, 2)},
    )
