"""calibration.json: what `run_bench.py calibrate` measured of this machine's load generator
(harness/calibrate.py), typed when it is written and when it is read. A run copies the latest
one of its results folder into run.json when it starts, so its report says how close each
cell came to the generator's ceiling.

Every field has a default (NaN, empty, 0) so that an older file, which lacks the later
figures, still loads; a field of the wrong type is an error naming it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from record import io

CALIBRATION_FILE = "calibration.json"


@dataclass(frozen=True)
class Interval:
    """A figure's 95 % interval; NaN ends when it was not measured (fewer than 2 repeats)."""

    low: float = math.nan
    high: float = math.nan

    @property
    def known(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    def to_list(self) -> list[float]:
        return [self.low, self.high]

    @classmethod
    def of(cls, value: Any, name: str) -> Interval:
        if value is None:
            return cls()
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise ValueError(f"{name} is {value!r}, not a [low, high] pair")
        return cls(_number(value[0], name), _number(value[1], name))


def _number(value: Any, name: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} is {value!r}, not a number")
    return float(value)


NAN = math.nan
NO_INTERVAL = Interval()  # frozen, so one instance serves every default


@dataclass(frozen=True, kw_only=True)
class Calibration:
    """The generator's ceiling and the figures around it. "per worker": one Locust process
    with a core of its own."""

    measured_at: float = NAN
    server: str = ""  # the ceiling cells' server and endpoint ("multiprocess /hello")
    method: str = ""  # how the ceiling was measured ("cells": ordinary cells in rounds)
    users: int = 0  # the ceiling cells' users (and wrk's connections)
    workers: int = 1
    # The ceiling cells, mean over the rounds: req/s, every Locust process's CPU %, how busy
    # the generator's cores were, and the generator's CPU per request (with its interval
    # and the rounds' own values).
    rps_per_worker: float = NAN
    cpu_pct_per_worker: float = NAN
    loadgen_core_pct: float = NAN
    cpu_ms_per_req: float = NAN
    cpu_ms_per_req_ci: Interval = NO_INTERVAL
    cpu_ms_per_req_samples: tuple[float, ...] = ()
    # The ceiling: req/s per worker at 90 % of its core, found by `ceiling_method` ("fit":
    # the fixed-cost fit; "per-request": 90 % over the cost per request); the per-request
    # figure is kept beside it either way.
    ceiling_rps_per_worker: float = NAN
    ceiling_ci: Interval = NO_INTERVAL
    ceiling_method: str = ""
    ceiling_per_request_rps: float = NAN
    ceiling_per_request_ci: Interval = NO_INTERVAL
    repeats: int = 0  # rounds counted
    target_ci_pct: float = NAN  # the interval calibrate aims for (± % of the figure)
    converged: bool = True  # the interval got that narrow (older files: True)
    # The cross-check: an ordinary cell's generator cost against what the ceiling's way says.
    check_cell: str = ""
    check_cpu_ms_per_req: float = NAN
    check_cpu_ms_per_req_ci: Interval = NO_INTERVAL
    check_rps: float = NAN
    check_predicted_ms_per_req: float = NAN  # by the fit (NaN: per-request ceiling)
    check_ceiling_rps: float = NAN
    check_gap_pct: float = NAN
    check_agrees: bool = True
    # The recorder's own cost: CPU per request with and without it, in pairs of cells.
    listener_rate: float = NAN
    listener_overhead_pct: float = NAN
    listener_overhead_ci: Interval = NO_INTERVAL
    listener_pairs: int = 0
    skipped: tuple[str, ...] = ()  # rounds' cells not counted, with why
    # The fixed-cost fit (NaN where the cells' req/s did not vary enough).
    fixed_cpu_pct: float = NAN
    marginal_ms_per_req: float = NAN
    ceiling_fit_rps: float = NAN
    ceiling_fit_ci: Interval = NO_INTERVAL
    # --workers N: req/s and CPU of each worker (NaN with one).
    rps_per_worker_at_n: float = NAN
    cpu_pct_per_worker_at_n: float = NAN
    # wrk on the same server and connections (NaN without wrk).
    wrk_rps: float = NAN
    wrk_ci: Interval = NO_INTERVAL
    harness_rps: float = NAN
    harness_wrk_ratio: float = NAN
    harness_wrk_ratio_ci: Interval = NO_INTERVAL
    # Cells counted although a run calls them invalid: the generator at its limit.
    cells_at_generator_limit: int = 0
    # The headroom: what a request costs the generator beside what it costs the server, in
    # the same cells (the check cell: the quick suite's own /hello cell), each with its
    # interval over the rounds, and their ratio (server ÷ generator, per round: 2 means the
    # generator spends half the server's CPU on a request). NaN in older files.
    placement: str = ""  # where those cells ran ("split": server and generator on own cores)
    server_cpu_ms_per_req: float = NAN
    server_cpu_ms_per_req_ci: Interval = NO_INTERVAL
    headroom_ratio: float = NAN
    headroom_ratio_ci: Interval = NO_INTERVAL
    # The same per WebSocket message: a feed cell (ws_cell) at ws_messages_per_s.
    ws_cell: str = ""
    ws_messages_per_s: float = NAN
    ws_cpu_ms_per_msg: float = NAN
    ws_cpu_ms_per_msg_ci: Interval = NO_INTERVAL
    ws_server_ms_per_msg: float = NAN
    ws_server_ms_per_msg_ci: Interval = NO_INTERVAL
    ws_headroom_ratio: float = NAN
    ws_headroom_ratio_ci: Interval = NO_INTERVAL

    def __post_init__(self) -> None:
        if self.ceiling_rps_per_worker <= 0:
            raise ValueError(f"calibration ceiling {self.ceiling_rps_per_worker} is not positive")

    @property
    def has_ceiling(self) -> bool:
        return math.isfinite(self.ceiling_rps_per_worker)

    @property
    def has_fit(self) -> bool:
        return math.isfinite(self.ceiling_fit_rps)

    @property
    def has_wrk(self) -> bool:
        return math.isfinite(self.wrk_rps)

    @property
    def has_headroom(self) -> bool:
        return math.isfinite(self.headroom_ratio)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Interval):
                value = value.to_list()
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        """Any calibration.json this project wrote (keys it does not know are ignored)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            raw = data[f.name]
            default = f.default
            if isinstance(default, Interval):
                values[f.name] = Interval.of(raw, f.name)
            elif isinstance(default, bool):
                values[f.name] = default if raw is None else bool(raw)
            elif isinstance(default, int):
                values[f.name] = int(_number(raw, f.name)) if raw is not None else default
            elif isinstance(default, float):
                values[f.name] = _number(raw, f.name)
            elif isinstance(default, tuple):
                values[f.name] = tuple(raw or ())
            else:
                values[f.name] = str(raw or "")
        return cls(**values)


def write(folder: Path, calibration: Calibration) -> Path:
    path = folder / CALIBRATION_FILE
    io.write_json(path, calibration.to_dict())
    return path


def latest(folder: Path) -> Calibration:
    """The calibration stored in a results folder; an empty one (no ceiling) when there is
    none or it cannot be read: a damaged calibration must not stop a run."""
    path = folder / CALIBRATION_FILE
    if not path.exists():
        return Calibration()
    try:
        return Calibration.from_dict(io.read_json(path))
    except Exception:
        return Calibration()
