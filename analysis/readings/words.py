"""How numbers and names are written in the readings, tables and charts, written once: a
figure read in a sentence, in a table cell and on a bar must look the same."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

DASH = "–"  # a value that does not exist (no request, no bound), never a zero


def fmt(value: Any, digits: int = 1) -> str:
    """A number as people read it: thousands separated, a dash for a missing value."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return DASH
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def format_percent(value: Any) -> str:
    """A share with two decimals (an error rate: 0.25 %), a dash when missing."""
    return f"{value:.2%}" if pd.notna(value) else DASH


def format_change(value: float) -> str:
    """A relative change in whole percent with its sign (−12 %, +3 %)."""
    return f"{'−' if value < 0 else '+'}{abs(value):.0f} %"


def format_ms(value: float) -> str:
    """A latency as people read it: whole ms from 10 up, one decimal below."""
    return f"{value:,.0f}" if abs(value) >= 10 else f"{value:.1f}"


def format_ms_unit(value: float) -> str:
    """A latency with its unit, a question mark when it was not measured."""
    return f"{format_ms(value)} ms" if math.isfinite(value) else "? ms"


def format_rate(value: float) -> str:
    """A rate as people read it: whole from 100 up, else up to one decimal (19.5 stays
    19.5: rounded to 20 it would read as the capacity it fell short of)."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}".removesuffix(".0")


def format_cost_ms(value: float) -> str:
    """A CPU cost as people read it: two significant digits below 10 ms (0.21, 1.5), whole
    above."""
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"


def format_count(value: float) -> str:
    """A count held or seen (connections, waiters), a question mark when not measured."""
    return f"{value:,.0f}" if math.isfinite(value) else "?"


def format_kb(value: float) -> str:
    """Memory per item in KB, a question mark when not measured."""
    return f"{value:.1f} KB" if math.isfinite(value) else "? KB"


def family(scenario: str, loop: str, loops: int) -> str:
    """A workload's name, with its loop when the run has both (else two readings look alike)."""
    return f"{scenario} ({loop})" if loops > 1 else str(scenario)
