"""calibrate: figures from repeated cells with their intervals, repeated until narrow, stored
beside the older keys; one short real calibration end to end."""

from __future__ import annotations

import json
import math
import shutil
import statistics
from dataclasses import replace
from pathlib import Path

import pytest
from scipy import stats

from analysis.report.load_generator import calibration_text
from harness import calibrate, calibration_figures
from harness.calibration_figures import (
    Estimate,
    Rounds,
    headroom_lines,
    result_of,
    summary_lines,
)
from record.calibration import Calibration
from record.records import RunRecord
from record.verdict import Verdict


def test_estimate_is_the_t_interval_of_the_mean() -> None:
    values = (0.150, 0.153, 0.151, 0.149)
    e = Estimate(values)
    half = stats.t.ppf(0.975, 3) * statistics.stdev(values) / 2
    assert e.mean == pytest.approx(statistics.fmean(values))
    assert (e.low, e.high) == pytest.approx((e.mean - half, e.mean + half))
    assert e.narrow(5.0) and not e.narrow(1.0)
    assert not Estimate(values[:2]).narrow(50.0)  # fewer than 3 repeats: never narrow
    assert Estimate(()).added(None).added(math.nan).n == 0
    assert Estimate(()).added(0.1).values == (0.1,)


def _rounds(costs: list[float], checks: list[float]) -> Rounds:
    acc = Rounds()
    for c, k in zip(costs, checks, strict=True):
        acc.cost, acc.check = acc.cost.added(c), acc.check.added(k)
        acc.rps, acc.cpu, acc.busy = acc.rps.added(2000), acc.cpu.added(30), acc.busy.added(31)
        acc.wrk, acc.ratio = acc.wrk.added(2100), acc.ratio.added(2000 / 2100)
    return acc


def test_result_keeps_the_older_keys_and_adds_intervals() -> None:
    acc = _rounds([0.15, 0.152, 0.149], [0.155, 0.158, 0.153])
    pairs = Estimate((0.5, 1.0, 0.2))
    result = result_of(acc, pairs, workers=1, rate=1200)
    assert result.ceiling_rps_per_worker == pytest.approx(
        900 / statistics.fmean([0.15, 0.152, 0.149])
    )
    lo, hi = result.ceiling_ci.low, result.ceiling_ci.high
    assert lo < result.ceiling_rps_per_worker < hi
    assert result.converged and result.repeats == 3
    assert result.check_agrees and abs(result.check_gap_pct) < 10
    assert result.harness_wrk_ratio == pytest.approx(2000 / 2100)
    assert result.listener_overhead_pct == pytest.approx(statistics.fmean([0.5, 1.0, 0.2]))
    text = "\n".join(summary_lines(result))
    assert "interval within ±5% after 3 repeats" in text
    assert "(agrees within 10%)" in text and "harness/wrk 0.95 [" in text
    json.dumps(result.to_dict())  # storable as it is


def test_a_calibration_that_never_settles_says_so() -> None:
    acc = _rounds([0.10, 0.20, 0.14, 0.25], [0.30, 0.31, 0.29, 0.30])
    result = result_of(acc, Estimate((1.0,)), workers=1, rate=1000)
    assert not result.converged
    text = "\n".join(summary_lines(result))
    assert "still wider than ±5% after 4 repeats" in text
    assert "DISAGREES" in text  # 0.30 ms against about 0.17 ms
    assert not result.listener_overhead_ci.known  # one pair: no interval
    line = calibration_text(result)
    assert "ceiling" in line and "not steady" in line


def test_the_report_reads_old_and_new_calibrations() -> None:
    old = {"ceiling_rps_per_worker": 5000.0, "listener_overhead_pct": 0.3}
    assert "ceiling 5,000 req/s per Locust worker;" in calibration_text(Calibration.from_dict(old))
    new = result_of(_rounds([0.15, 0.152, 0.149], [0.15] * 3), Estimate((0.1, 0.2, 0.3)), 1, 10)
    line = calibration_text(new)
    assert "95 % CI" in line and "3 repeats" in line and "not steady" not in line
    # run.json stores it as it is; an older run.json without the new keys loads too.
    record = RunRecord.from_dict({"run_id": "r", "suite": {}, "calibration": new.to_dict()})
    assert record.calibration.ceiling_ci == new.ceiling_ci
    older = RunRecord.from_dict({"run_id": "r", "suite": {}, "calibration": old}).calibration
    assert older.ceiling_rps_per_worker == 5000.0 and older.listener_overhead_pct == 0.3


def test_rounds_stop_once_every_interval_is_narrow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Steady figures stop after MIN_ROUNDS; scattered ones run to MAX_ROUNDS."""
    for scatter, expected in ((0.001, calibrate.MIN_ROUNDS), (0.2, calibrate.MAX_ROUNDS)):
        rounds: list[int] = []

        def fake_round(self, r, acc, base, scatter=scatter, rounds=rounds):  # type: ignore[no-untyped-def]
            rounds.append(r)
            wobble = scatter * (1 if r % 2 else -1)
            acc.cost = acc.cost.added(0.15 * (1 + wobble))
            acc.check = acc.check.added(0.15 * (1 - wobble))
            acc.rps = acc.rps.added(2000.0)
            acc.ratio = acc.ratio.added(1.0)
            return acc

        monkeypatch.setattr(calibrate.Calibrator, "round", fake_round)
        monkeypatch.setattr(calibrate.Calibrator, "server", lambda self: (None, "http://x"))
        monkeypatch.setattr(
            calibrate.Calibrator, "listener", lambda self, b, r, a: Estimate((1.0,))
        )
        result = calibrate.measure(1, 1.0, quiet=True)
        assert len(rounds) == expected
        assert result.repeats == expected


# A real calibration is rounds of real cells (about 20 s): in the slow series.
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_short_real_calibration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two rounds of real 1 s cells, one recorder pair: every figure has its interval, the
    ceiling is the cells' own cost, and the temporary folder is gone afterwards."""
    monkeypatch.setattr(calibrate, "MIN_ROUNDS", 2)
    monkeypatch.setattr(calibrate, "MAX_ROUNDS", 2)
    monkeypatch.setattr(calibrate, "MIN_PAIRS", 1)
    monkeypatch.setattr(calibrate, "MAX_PAIRS", 1)
    made: list[Path] = []
    real = calibrate.tempfile.mkdtemp

    def mkdtemp(*args, **kwargs):  # type: ignore[no-untyped-def]
        path = real(*args, **kwargs)
        made.append(Path(path))
        return path

    monkeypatch.setattr(calibrate.tempfile, "mkdtemp", mkdtemp)
    assert calibrate.calibrate(tmp_path, workers=1, duration_s=1.0) == 0
    result = Calibration.from_dict(json.loads((tmp_path / "calibration.json").read_text()))
    assert result.repeats == 2 and len(result.cpu_ms_per_req_samples) == 2
    assert result.ceiling_per_request_rps == pytest.approx(900 / result.cpu_ms_per_req)
    if result.ceiling_method == "per-request":
        assert result.ceiling_rps_per_worker == result.ceiling_per_request_rps
    else:  # the fit: the recorder's slower loads joined the cells
        assert result.ceiling_method == "fit" and result.marginal_ms_per_req > 0
    lo, hi = result.cpu_ms_per_req_ci.low, result.cpu_ms_per_req_ci.high
    assert lo <= result.cpu_ms_per_req <= hi
    assert 0.01 < result.cpu_ms_per_req < 5 and 0.01 < result.check_cpu_ms_per_req < 5
    assert result.listener_pairs == 1
    if shutil.which("wrk") is None:
        assert math.isnan(result.wrk_rps) and math.isnan(result.harness_wrk_ratio)
    else:
        assert result.wrk_rps > 0 and result.harness_wrk_ratio > 0
    assert not made[0].exists()  # the calibration's own folder (cells, logs) is removed


def test_the_fixed_part_of_the_generator_cpu_is_separated() -> None:
    """CPU % = 8 + 0.01 % per req/s (0.1 ms per request): the fit finds both parts; cells
    whose req/s hardly differ cannot tell them apart."""
    points = [(r, 8.0 + 0.01 * r) for r in (600.0, 1000.0, 1800.0, 2500.0)]
    fixed, marginal = calibration_figures.fixed_cost_fit(points)  # type: ignore[misc]
    assert fixed == pytest.approx(8.0) and marginal == pytest.approx(0.1)
    assert (
        calibration_figures.fixed_cost_fit([(1000.0, 18.0), (1050.0, 18.5), (1100.0, 19.0)]) is None
    )


@pytest.mark.timeout(120)
def test_sigterm_stops_a_calibration_and_everything_it_started(tmp_path: Path) -> None:
    """SIGTERM mid-calibration: it exits, and neither its server nor its Locust is left."""
    import signal
    import subprocess
    import sys
    import time

    import psutil

    from tests.conftest import ROOT

    cmd = [sys.executable, "run_bench.py", "calibrate", "--duration", "3", "--out", str(tmp_path)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: set[psutil.Process] = set()

    def running_locust(kids: list[psutil.Process]) -> bool:
        """A Locust among them (one may exit, or be a zombie, between the listing and the
        look at its command line)."""
        for kid in kids:
            try:
                if "locust" in " ".join(kid.cmdline()):
                    return True
            except psutil.Error:
                continue
        return False

    def alive() -> list[int]:
        """The pids of what it started that still run (a zombie, or a pid reused since, is
        not one of them: is_running compares the start time)."""
        left = []
        for p in seen:
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    left.append(p.pid)
            except psutil.Error:
                continue
        return left

    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            kids = psutil.Process(proc.pid).children(recursive=True)
            seen |= set(kids)
            if running_locust(kids):
                break
            time.sleep(0.2)
        assert seen, "calibrate started nothing within 60 s"
        seen |= set(psutil.Process(proc.pid).children(recursive=True))
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # What it started goes with it, or soon after (a child reaped by init a moment later).
    deadline = time.monotonic() + 10
    while alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert alive() == []
    assert proc.returncode == 130
    assert not (tmp_path / "calibration.json").exists()


def test_the_ceiling_comes_from_the_fit_where_req_s_varied() -> None:
    """Cells at 600-2,500 req/s of a generator whose CPU % is 7 + 0.012 × req/s (0.12 ms a
    request beyond a fixed 7 % of its core): the ceiling is where that reaches 90 %, about
    6,900 req/s, inside its interval; 90 % over the cost of a 600 req/s cell (0.237 ms) would
    say 3,800. The ordinary cell's cost matches the fit's prediction at its own rate."""
    acc = Rounds()
    for rps in (600.0, 900.0, 1500.0, 2500.0, 700.0, 1200.0):
        cpu = 7.0 + 0.012 * rps
        acc.points.append((rps, cpu * (1.01 if rps > 1000 else 0.99)))
    for rps in (600.0, 610.0, 590.0):
        acc.cost = acc.cost.added((7.0 + 0.012 * rps) / rps * 10)
        acc.rps, acc.cpu, acc.busy = acc.rps.added(rps), acc.cpu.added(14), acc.busy.added(14)
        acc.check = acc.check.added((7.0 + 0.012 * 500) / 500 * 10)
        acc.check_rps = acc.check_rps.added(500.0)
    result = result_of(acc, Estimate((0.1, 0.2, 0.3)), workers=1, rate=360)
    assert result.ceiling_method == "fit"
    assert result.ceiling_rps_per_worker == pytest.approx(83 / 0.012, rel=0.05)
    lo, hi = result.ceiling_ci.low, result.ceiling_ci.high
    assert lo < result.ceiling_rps_per_worker < hi
    assert result.ceiling_per_request_rps == pytest.approx(900 / 0.237, rel=0.02)
    assert result.check_agrees and abs(result.check_gap_pct) < 5
    text = "\n".join(summary_lines(result))
    assert "fixed-cost fit: CPU ≈ 6." in text and "by the fit" in text


def test_a_fit_too_uncertain_to_use_falls_back_to_the_cost_per_request() -> None:
    """Cells at 600-900 req/s with a few % of noise in their CPU: the fit's ceiling is far too
    uncertain, so the ceiling is 90 % over the cost per request, the fit kept beside it."""
    acc = Rounds()
    for rps, wobble in ((600, 1.1), (900, 0.9), (700, 1.05), (800, 0.93), (650, 0.97)):
        cpu = (7.0 + 0.012 * rps) * wobble
        acc.points.append((float(rps), cpu))
        acc.cost = acc.cost.added(cpu / rps * 10)
        acc.rps, acc.cpu, acc.busy = acc.rps.added(rps), acc.cpu.added(cpu), acc.busy.added(cpu)
        acc.check = acc.check.added(cpu / rps * 10)
        acc.check_rps = acc.check_rps.added(float(rps))
    result = result_of(acc, Estimate((0.1, 0.2, 0.3)), workers=1, rate=400)
    assert result.ceiling_method == "per-request"
    assert result.ceiling_rps_per_worker == result.ceiling_per_request_rps
    lo, hi = result.ceiling_fit_ci.low, result.ceiling_fit_ci.high
    assert (hi - lo) / 2 > 0.25 * result.ceiling_fit_rps
    assert "too uncertain to use" in "\n".join(summary_lines(result))


def test_a_cell_at_the_generator_limit_counts_and_is_said(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ceiling cell loads the generator to its limit: a cell a run would call invalid for
    its generator's CPU alone still measures the generator, and counts (a round left out there
    would keep only the rounds where the generator was least busy); any other fault does not."""
    verdicts = iter(
        [
            Verdict("invalid", "[load generator cores at 94% CPU]", math.nan, 5600.0),
            Verdict("invalid", "[error rate 5% above 1%]", math.nan, math.nan),
            Verdict("ok", "5000 req/s", 5000.0, 5000.0),
        ]
    )
    monkeypatch.setattr(calibrate, "run_cell", lambda cell, cell_dir, options: object())
    cal = calibrate.Calibrator(1, 1.0, lambda record, cell_dir: next(verdicts), quiet=True)
    try:
        acc = Rounds()
        spec = cal.cells["ceiling"]
        at_limit, other_fault, ok = (cal.cell(spec, r, acc)[1] for r in (1, 2, 3))
        assert at_limit == 5600.0 and math.isnan(other_fault) and ok == 5000.0
        assert acc.at_limit == 1
    finally:
        cal.stop()
        shutil.rmtree(cal.tmp, ignore_errors=True)
    result = result_of(_rounds([0.15, 0.152, 0.149], [0.15] * 3), Estimate((1.0,)), 1, 10)
    assert result.cells_at_generator_limit == 0
    assert "above a run's 90% limit" not in "\n".join(summary_lines(result))
    counted = _rounds([0.15, 0.152, 0.149], [0.15] * 3)
    counted.at_limit = 2
    text = "\n".join(summary_lines(result_of(counted, Estimate((1.0,)), 1, 10)))
    assert "2 of its cells had the generator's cores above a run's 90% limit" in text


def test_calibrate_runs_the_check_a_slower_point_and_a_feed() -> None:
    suite = calibrate.calibration_suite(1.0, 1)
    roles = {calibrate._role(c): c for c in suite.round(1)}
    assert set(roles) == {"ceiling", "check", "low", "ws"}
    assert (roles["check"].strategy, roles["check"].users) == ("coroutine", 10)
    assert roles["low"].users == calibration_figures.LOW_USERS < roles["check"].users
    ws = roles["ws"]
    assert ws.scenario == "ws-feed" and ws.params["connections"] == 1000
    # 1,000 subscribers, a message every 200 ms each: 5,000 messages a second.
    assert ws.params["connections"] * 1000 / ws.params["interval_ms"] == 5000


def test_the_headroom_is_the_servers_cost_over_the_generators_per_round() -> None:
    acc = _rounds([0.06, 0.061, 0.059], [0.058, 0.06, 0.059])
    for gen, server in ((0.058, 0.17), (0.06, 0.168), (0.059, 0.172)):
        acc.server = acc.server.added(server)
        acc.headroom = acc.headroom.added(calibrate.ratio(server, gen))
    for gen_ms, server_ms in ((0.010, 0.021), (0.011, 0.02), (0.0105, 0.0205)):
        acc.ws_rate = acc.ws_rate.added(5000)
        acc.ws_gen, acc.ws_server = acc.ws_gen.added(gen_ms), acc.ws_server.added(server_ms)
        acc.ws_headroom = acc.ws_headroom.added(server_ms / gen_ms)
    result = result_of(acc, Estimate((1.0,)), 1, 1000, "split")
    assert result.headroom_ratio == pytest.approx(
        statistics.fmean([0.17 / 0.058, 0.168 / 0.06, 0.172 / 0.059])
    )
    assert result.headroom_ratio_ci.low < result.headroom_ratio < result.headroom_ratio_ci.high
    assert result.server_cpu_ms_per_req == pytest.approx(0.17)
    assert result.ws_cpu_ms_per_msg == pytest.approx(0.0105)
    assert result.ws_cell.startswith("coroutine ws-feed 1000 connections")
    back = Calibration.from_dict(json.loads(json.dumps(result.to_dict())))
    for name in (
        "placement",
        "headroom_ratio",
        "headroom_ratio_ci",
        "ws_cell",
        "ws_headroom_ratio",
    ):
        assert getattr(back, name) == getattr(result, name), name
    text = "\n".join(summary_lines(result))
    assert "headroom per /hello request (coroutine /hello 10 users, split placement)" in text
    assert "the server spends 2.88 [" in text and "x the generator's CPU" in text
    assert "headroom per WebSocket message" in text and "5,000 messages/s" in text
    head = calibration_figures.header_line(result, "split")
    assert head.startswith("generator headroom: a /hello request costs the server 2.9 [")
    assert "a WebSocket message 2.0x" in head and "this run is" not in head
    assert "may limit" not in head
    other = calibration_figures.header_line(result, "shared")
    assert other.endswith("with split placement, this run is shared)")
    slow = calibration_figures.header_line(
        replace(result, headroom_ratio=1.2, headroom_ratio_ci=result.headroom_ratio_ci), "split"
    )
    assert "under 2x, the generator may limit the fastest cells" in slow
    # An older calibration (no headroom) and none at all say how to get it.
    assert "not calibrated here" in calibration_figures.header_line(Calibration(), "split")
    assert headroom_lines(Calibration()) == []
