"""run.json's sections typed: what a reader asks, older runs (fields missing) reading as "not
set", a wrong type refused with the field's name, and a record that reads back as written."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from record.calibration import Calibration, Interval
from record.records import Placement, RunOptions, RunRecord
from record.run_meta import Environment, Speed, SuiteSettings

ENV = {
    "cpu": {"model": "Xeon", "cores": 2, "usable_cores": 1, "machine": "x86_64"},
    "memory": {"total_bytes": 2**31},
    "os": {"platform": "Linux", "hostname": "h"},
    "python": {"version": "3.11.9", "implementation": "cpython"},
    "packages": {"tornado": "6.4"},
    "git": {"commit": "abc", "dirty": True},
}


def test_a_run_record_answers_through_its_sections() -> None:
    run = RunRecord.from_dict(
        {
            "run_id": "r",
            "suite": {"name": "s", "duration_s": 3.0, "slo_ms": 100, "repeats": 2},
            "environment": ENV,
            "calibration": {"ceiling_rps_per_worker": 900.0, "measured_at": 1.0},
            "speed": {"start_s": 0.05, "end_s": 0.06},
        }
    )
    assert run.settings.slo_ms == 100.0 and run.settings.repeats == 2
    assert run.settings.target_ci_pct is None and math.isnan(run.settings.max_error_rate)
    assert run.environment.machine_key() == {
        "cpu model": "Xeon",
        "cores": "2",
        "python": "3.11.9",
        "tornado": "6.4",
    }
    assert run.environment.git_dirty and run.environment.memory_bytes == 2**31
    assert run.environment.fingerprint() == "Xeon / 2 cores / 1 usable cores / x86_64 / 2.0 GB"
    assert run.calibration.has_ceiling
    assert run.calibration.ceiling_rps_per_worker == 900.0
    # A run written before schema 8 timed its speed loop as start_s/end_s.
    assert run.speed.readings == (0.05, 0.06)


def test_a_run_record_reads_back_as_written(tmp_path: Path) -> None:
    run = RunRecord(
        run_id="r",
        suite={"name": "s", "duration_s": 3.0},
        environment=Environment.from_dict(ENV),
        cells=("a-r1",),
        options=RunOptions(
            workers=2, placement=Placement("split", (0,), (1,)), master_port=9, worker_timeout_s=60
        ),
        speed=Speed(0.05, 0.06),
        calibration=Calibration(ceiling_rps_per_worker=900.0, ceiling_ci=Interval(800, 1000)),
    )
    run.write(tmp_path)
    again = RunRecord.read(tmp_path)
    assert again.environment == run.environment
    assert again.options == run.options
    assert again.speed == run.speed and again.cells == run.cells
    assert again.calibration.ceiling_ci == Interval(800.0, 1000.0)
    assert again.settings == run.settings


def test_an_older_run_reads_as_not_set() -> None:
    run = RunRecord.from_dict({"run_id": "old", "suite": {}, "status": "complete"})
    assert run.settings == SuiteSettings()
    assert run.environment == Environment()
    assert not run.calibration.has_ceiling
    assert run.speed.readings == ()
    assert math.isnan(Calibration.from_dict({}).wrk_rps)


def test_wrong_types_are_refused_with_the_field_named() -> None:
    with pytest.raises(ValueError, match="slo_ms"):
        RunRecord(run_id="r", suite={"slo_ms": "fast"})
    with pytest.raises(ValueError, match="cpu is str"):
        RunRecord.from_dict({"run_id": "r", "suite": {}, "environment": {"cpu": "Xeon"}})
    with pytest.raises(ValueError, match="not positive"):
        Calibration(ceiling_rps_per_worker=0.0)
    with pytest.raises(ValueError, match="ceiling_ci"):
        Calibration.from_dict({"ceiling_ci": "wide"})
