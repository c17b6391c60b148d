"""run.json's suite, environment and calibration read as typed views: what a reader asks,
older runs (fields missing) reading as "not set", a wrong type refused with the field's name."""

from __future__ import annotations

import math

import pytest

from record.records import RunRecord
from record.run_meta import Calibration, Environment, SuiteSettings

ENV = {
    "cpu": {"model": "Xeon", "cores": 2},
    "memory": {"total_bytes": 2**31},
    "os": {"platform": "Linux"},
    "python": {"version": "3.11.9"},
    "packages": {"tornado": "6.4"},
    "git": {"commit": "abc", "dirty": True},
}


def test_a_run_record_answers_through_its_views() -> None:
    run = RunRecord(
        run_id="r",
        suite={"name": "s", "duration_s": 3.0, "slo_ms": 100, "repeats": 2},
        environment=ENV,
        calibration={"ceiling_rps_per_worker": 900.0, "measured_at": 1.0},
    )
    assert run.settings.slo_ms == 100.0 and run.settings.repeats == 2
    assert run.settings.target_ci_pct is None and math.isnan(run.settings.max_error_rate)
    assert run.machine.machine_key() == {
        "cpu model": "Xeon",
        "cores": "2",
        "python": "3.11.9",
        "tornado": "6.4",
    }
    assert run.machine.git_dirty and run.machine.memory_bytes == 2**31
    assert run.generator_calibration.has_ceiling
    assert run.generator_calibration.ceiling_rps_per_worker == 900.0


def test_an_older_run_reads_as_not_set() -> None:
    run = RunRecord.from_dict({"run_id": "old", "suite": {}, "status": "complete"})
    assert run.settings == SuiteSettings()
    assert run.machine == Environment()
    assert not run.generator_calibration.has_ceiling
    assert math.isnan(Calibration.from_dict({}).wrk_rps)


def test_wrong_types_are_refused_with_the_field_named() -> None:
    with pytest.raises(ValueError, match="slo_ms"):
        RunRecord(run_id="r", suite={"slo_ms": "fast"})
    with pytest.raises(ValueError, match="cpu is str"):
        RunRecord(run_id="r", suite={}, environment={"cpu": "Xeon"})
    with pytest.raises(ValueError, match="not positive"):
        Calibration(ceiling_rps_per_worker=0.0)
