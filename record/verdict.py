"""The verdict on a finished cell for the run's progress line, in the shape both sides share:
analysis/live.py gives it (the report's own rule, analysis/validity.py), harness/runner.py
shows it without importing analysis."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from record.records import CellRecord


class Verdict(NamedTuple):
    status: str  # ok, invalid, failed or interrupted
    line: str  # one line about the cell
    rps: float  # its req/s when it is valid; NaN otherwise (an invalid cell is no evidence)
    # Its req/s when valid but for its generator's own CPU (NaN otherwise): calibrate measures
    # the generator at the limit where a run's cell stops measuring the server.
    rps_beside_generator: float = math.nan


# Gives the verdict on a finished cell from its record and folder. The harness cannot judge
# validity itself (that is the analysis's one rule): commands/ hands it the analysis's judge
# (analysis/live.py); without one, the cell's own status is shown.
Judge = Callable[[CellRecord, Path], Verdict]
