"""[[thresholds]]: parsed and refused in one line, judged per configuration on pooled repeats
(pass, fail, inconclusive, not judged), `run`/`report` exit 99 on a breach, and abort_on_fail
stops the suite after the breaching cell."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import run_bench
from analysis import thresholds as th
from analysis.ci import outputs as ci
from analysis.live import LiveJudge
from commands import common
from harness import runner
from harness.suite.parse import Suite, parse_suite
from record import io
from record.errors import UserError
from record.records import CellRecord, CellSpec, RunRecord
from record.run_meta import Environment
from record.thresholds import Threshold
from tests.analysis.fixtures import cell, steady_requests, write_cell, write_run

BASE: dict[str, Any] = {
    "name": "gate",
    "duration_s": 2,
    "warmup_s": 0,
    "variants": ["coroutine", "sync", "threadpool"],
    "users": [4],
    "scenarios": [{"name": "sleep", "params": {"ms": 20}}],
}


def _suite(*thresholds: dict[str, Any]) -> Suite:
    return parse_suite({**BASE, "thresholds": list(thresholds)}, "gate.toml")


def _run(path: Path, latencies: dict[str, list[float]], thresholds: list[dict], **kw: Any) -> None:
    """A run with one configuration per variant, one repeat per latency given (10 req/s)."""
    cells = []
    for variant, values in latencies.items():
        for repeat, latency in enumerate(values, start=1):
            c = cell(variant, users=4, params={"ms": 20}, repeat=repeat)
            cells.append(c)
            status = kw.get("status", {}).get(variant, "ok")
            reqs = steady_requests(10, latency) if status == "ok" else None
            write_cell(path, c, requests=reqs, status=status, reason=kw.get("reason", ""))
    write_run(path, cells)
    run = io.read_json(path / "run.json")
    run["suite"]["thresholds"] = [Threshold.from_dict(t).to_dict() for t in thresholds]
    io.write_json(path / "run.json", run)


def _report(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = run_bench.main(["report", str(path), "--quiet", *extra])
    return code, capsys.readouterr().out


P99_MAX_50 = {"metric": "p99_ms", "max": 50}


def test_a_threshold_met_passes_and_exits_0(tmp_path: Path, capsys) -> None:
    _run(tmp_path, {"coroutine": [20.0]}, [P99_MAX_50])
    code, out = _report(tmp_path, capsys)
    assert code == common.EXIT_OK
    assert "thresholds: 1 pass" in out
    assert "p99_ms <= 50" in out and "coroutine-asyncio-sleep-ms20-u4" in out


def test_a_breach_fails_and_exits_99(tmp_path: Path, capsys) -> None:
    _run(tmp_path, {"coroutine": [20.0], "sync": [80.0]}, [P99_MAX_50])
    code, out = _report(tmp_path, capsys)
    assert code == common.EXIT_THRESHOLD == 99
    assert "thresholds: 1 pass, 1 fail" in out
    line = next(x for x in out.splitlines() if x.strip().startswith("fail"))
    assert "sync-asyncio-sleep-ms20-u4" in line and "breaches" in line
    html = (tmp_path / "report.html").read_text()
    assert "Thresholds" in html and "breaches" in html


def test_selectors_and_min_limit(tmp_path: Path, capsys) -> None:
    t = {"metric": "rps", "min": 5, "variants": ["sync"], "scenario": "sleep", "users": [4]}
    _run(tmp_path, {"coroutine": [20.0], "sync": [80.0]}, [t])
    code, out = _report(tmp_path, capsys)
    assert code == common.EXIT_OK
    assert "sync-asyncio" in out and "coroutine-asyncio" not in out  # only the selected cell


def test_repeats_straddling_the_limit_are_inconclusive(tmp_path: Path, capsys) -> None:
    # Mean 50, interval wide across the limit of 48: neither pass nor breach.
    _run(tmp_path, {"coroutine": [40.0, 50.0, 60.0]}, [{"metric": "p99_ms", "max": 48}])
    code, out = _report(tmp_path, capsys)
    assert code == common.EXIT_OK
    assert "1 inconclusive" in out and "straddles 48" in out and "(3 repeats)" in out


def test_repeats_all_past_the_limit_fail(tmp_path: Path, capsys) -> None:
    _run(tmp_path, {"coroutine": [60.0, 61.0, 62.0]}, [P99_MAX_50])
    code, out = _report(tmp_path, capsys)
    assert code == 99 and "1 fail" in out


def test_an_invalid_cell_is_not_judged_never_passed(tmp_path: Path, capsys) -> None:
    _run(
        tmp_path,
        {"coroutine": [20.0], "sync": [20.0]},
        [P99_MAX_50],
        status={"sync": "failed"},
        reason="verification failed: /sleep answered 500",
    )
    code, out = _report(tmp_path, capsys)
    assert code == common.EXIT_FAILED_CELLS  # no breach: the failed cell decides
    line = next(x for x in out.splitlines() if "sync-asyncio" in x)
    assert line.strip().startswith("not judged") and "verification failed" in line


def test_abort_on_fail_stops_after_the_breaching_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    latency = {"coroutine": 20.0, "sync": 90.0, "threadpool": 20.0}
    ran: list[str] = []

    def run_cell(c: CellSpec, cell_dir: Path, options: object) -> CellRecord:
        ran.append(c.cell_id)
        write_cell(cell_dir.parent.parent, c, requests=steady_requests(10, latency[c.variant]))
        return CellRecord.read(cell_dir)

    monkeypatch.setattr(runner, "run_cell", run_cell)
    monkeypatch.setattr(runner, "measure_speed", lambda: 0.1)
    monkeypatch.setattr(runner, "collect_environment", Environment)
    suite = _suite({**P99_MAX_50, "abort_on_fail": True})
    judge = LiveJudge()
    outcome = runner.run_suite(
        suite,
        tmp_path,
        quiet=True,
        judge=judge,
        stop=ci.abort_check(judge.summary, suite.thresholds),
    )
    assert ran == ["coroutine-asyncio-sleep-ms20-u4-r1", "sync-asyncio-sleep-ms20-u4-r1"]
    assert "p99_ms <= 50" in outcome.aborted and "sync-asyncio-sleep-ms20-u4" in outcome.aborted
    assert RunRecord.read(tmp_path).status == "aborted"
    assert (tmp_path / "cells" / "coroutine-asyncio-sleep-ms20-u4-r1" / "cell.json").exists()


def test_without_abort_on_fail_nothing_stops() -> None:
    assert ci.abort_check(lambda: None, _suite(P99_MAX_50).thresholds) is None  # type: ignore[arg-type,return-value]


def test_thresholds_survive_run_json() -> None:
    suite = _suite({**P99_MAX_50, "variants": ["sync"], "abort_on_fail": True})
    again = Suite.from_dict(io_roundtrip(suite.to_dict()))
    assert again.thresholds == suite.thresholds
    assert again.thresholds[0].name == "p99_ms <= 50 (sync)"


def io_roundtrip(data: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(data))


@pytest.mark.parametrize(
    ("table", "key", "says"),
    [
        ({"metric": "p42_ms", "max": 1}, "thresholds[0].metric", "unknown metric 'p42_ms'"),
        ({"metric": "p99_ms", "max": 1, "min": 0}, "thresholds[0].max", "exactly one of"),
        ({"metric": "p99_ms"}, "thresholds[0].max", "exactly one of"),
        ({"metric": "rps", "min": 1, "variants": ["fanout"]}, "thresholds[0].variants", "fanout"),
        ({"metric": "rps", "min": 1, "scenario": "cpu"}, "thresholds[0].scenario", "no such"),
        ({"metric": "rps", "min": 1, "users": [50]}, "thresholds[0].users", "runs 50"),
        ({"metric": "rps", "min": 1, "rates": [100]}, "thresholds[0].rates", "allowed: none"),
        ({"metric": "rps", "min": 1, "cells": ["x"]}, "thresholds[0].cells", "unknown key"),
        ({"metric": "rps", "min": "fast"}, "thresholds[0].min", "must be a number"),
    ],
)
def test_a_bad_threshold_is_refused_in_one_line_naming_the_key(
    table: dict[str, Any], key: str, says: str
) -> None:
    with pytest.raises(UserError) as err:
        _suite(table)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"gate.toml: {key}: ") and says in message


def test_pooled_value_uses_the_cells_own_rps_interval_with_one_repeat() -> None:
    import pandas as pd

    t = Threshold(metric="rps", min=100)
    frame = pd.DataFrame({"rps": [105.0], "rps_ci_low": [95.0], "rps_ci_high": [115.0]})
    value, lo, hi, n = th.pooled(t, frame)
    assert (value, lo, hi, n) == (105.0, 95.0, 115.0, 1)
    assert th.verdict_of(t, value, lo, hi)[0] == th.INCONCLUSIVE
