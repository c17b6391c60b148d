"""The verdict on a finished cell for the run's progress line, in the shape both sides share:
analysis/live.py gives it (the report's own rule, analysis/validity.py), harness/runner.py
shows it without importing analysis."""

from __future__ import annotations

import math
from typing import NamedTuple


class Verdict(NamedTuple):
    status: str  # ok, invalid, failed or interrupted
    line: str  # one line about the cell
    rps: float  # its req/s when it is valid; NaN otherwise (an invalid cell is no evidence)
    # Its req/s when valid but for its generator's own CPU (NaN otherwise): calibrate measures
    # the generator at the limit where a run's cell stops measuring the server.
    rps_beside_generator: float = math.nan
