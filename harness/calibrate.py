"""`run_bench.py calibrate`: how much load this machine's generator can make, measured as a
cell measures it, with an interval.

- The ceiling: a short suite of ordinary cells (harness/cell.py, judged by the analysis's own
  judge when commands/ hands it one), `multiprocess` `/hello` at 32 users with the
  generator on its own cores. Each cell's generator cost per request is the figure a run's
  summary shows (loadgen_cpu_ms_per_req: every Locust process's CPU over the measured
  window ÷ the window's req/s; analysis/aggregate.py cost_per_request), and the ceiling is
  the utilization law's 90 % of a core over that cost. The cells are repeated until the
  cost's 95 % interval is within TARGET_CI_PCT of its mean (MIN_ROUNDS .. MAX_ROUNDS); the
  interval is printed and stored, and so is whether it ever got that narrow.
- Cross-checks in the same rounds, interleaved so that each round sees the same machine:
  an ordinary `coroutine` `/hello` cell at 10 users, whose own cost must imply a ceiling
  within CHECK_PCT of the calibrated one; wrk (when installed) on a server like the ceiling
  cell's, with the same connections, its req/s beside the cell's own (harness/wrk ratio).
- The recorder's cost: the same offered rate (an open loop at 60 % of the ceiling cells'
  req/s) with and without the raw-record listener, alternated in pairs, each side's CPU over
  the same measured window; repeated until the pairs' interval is within a few points.

Writes calibration.json in the results folder (the older keys keep their meaning; the new
ones are added beside them); later runs there store it in run.json.
"""

from __future__ import annotations

import contextlib
import math
import re
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from catalog import workloads
from catalog.locust_env import locust_env
from catalog.paths import SCENARIO_DIR
from catalog.server_config import ServerConfig
from harness import placements
from harness.calibration_figures import (
    CHECK_USERS,
    LOW_USERS,
    MIN_ROUNDS,
    TARGET_CI_PCT,
    USERS,
    WS_BYTES,
    WS_CONNECTIONS,
    WS_INTERVAL_MS,
    Estimate,
    Rounds,
    result_of,
    summary_lines,
)
from harness.cell import CellOptions, run_cell
from harness.interrupts import sigterm_as_interrupt
from harness.processes import procs, profiler
from harness.processes.locust_cmd import Distribution, LoadSpec, locust_argv
from harness.suite.parse import Suite, parse_suite
from record import calibration, io
from record.calibration import Calibration
from record.errors import UserError
from record.layout import CellLayout, RunLayout
from record.loadgen_summary import read_summary
from record.profile import GENERATOR, ProfileSettings, calibration_profiles
from record.records import CellRecord, CellSpec
from record.schema import LOADGEN_FILE
from record.verdict import Judge, Verdict

MAX_ROUNDS = 8  # a machine not steady by then will not be within a calibration
LISTENER_TARGET_PTS = 2.0  # the recorder's cost: ± percentage points
MIN_PAIRS, MAX_PAIRS = 3, 6
# The recorder's open loop: this share of the slower of the ceiling and check cells' req/s.
# Those are the server's req/s now (the lean generator no longer saturates first), and an
# open loop offered more than the server serves measures its queue, not the recorder.
LISTENER_RATE_SHARE = 0.5
WARMUP_S = 1.0


def own_judge(record: CellRecord, cell_dir: Path) -> Verdict:
    """Without the analysis's judge (harness-only use): the window's requests from the Locust
    side's own summary over the window, the count the summary's req/s is made of."""
    summary = read_summary(cell_dir)
    if record.status != "ok" or summary is None or record.window is None:
        return Verdict(record.status, record.reason, math.nan)
    rps = summary.requests / record.window.duration_s
    return Verdict("ok", f"{rps:.0f} req/s", rps, rps)


def cell_cost_ms(record: CellRecord, rps: float) -> float:
    """The generator's CPU ms per request, as a run's summary computes it (every Locust
    process's CPU over the window ÷ the window's req/s)."""
    cpu = record.loadgen_cpu_total_pct
    if not (rps > 0 and math.isfinite(cpu)):
        return math.nan
    return cpu / 100.0 / rps * 1000.0


def server_cost_ms(record: CellRecord, rps: float) -> float:
    """The server's CPU ms per request in the same cell (the utilization law, as the
    summary's server_cpu_ms_per_req)."""
    cpu = record.server_cpu_pct
    if not (rps > 0 and math.isfinite(cpu)):
        return math.nan
    return cpu / 100.0 / rps * 1000.0


def ratio(server_ms: float, generator_ms: float) -> float | None:
    """Server ÷ generator CPU per request, None where either is unknown."""
    if not (math.isfinite(server_ms) and generator_ms > 0):
        return None
    return server_ms / generator_ms


def calibration_suite(duration_s: float, server_cores: int) -> Suite:
    """The cells calibrate runs: the ceiling cell, the ordinary one and a slower one on
    /hello, and a WebSocket feed for the cost of a message."""
    data = {
        "name": "calibrate",
        "description": "generator ceiling and its cross-check",
        "duration_s": duration_s,
        "warmup_s": WARMUP_S,
        "repeats": 1,
        "variants": ["multiprocess", "coroutine"],
        "placement": "split",
        "server": {"processes": max(1, server_cores)},
        "scenarios": [
            {"name": "hello", "variants": ["multiprocess"], "users": [USERS]},
            {"name": "hello", "variants": ["coroutine"], "users": [CHECK_USERS, LOW_USERS]},
            {
                "name": "ws-feed",
                "variants": ["coroutine"],
                "params": {
                    "connections": WS_CONNECTIONS,
                    "interval_ms": WS_INTERVAL_MS,
                    "bytes": WS_BYTES,
                },
            },
        ],
        # py-spy on the server would sample from the generator's cores it measures: off
        # (calibrate --profile samples the generator instead, from the server's cores).
        "profile": {"enabled": False},
    }
    return parse_suite(data, "calibrate")


def _role(cell: CellSpec) -> str:
    """Which of calibrate's cells this is."""
    if workloads.live(cell.scenario) == workloads.LIVE_FEED:
        return "ws"
    if cell.strategy == "multiprocess":
        return "ceiling"
    return "check" if cell.users == CHECK_USERS else "low"


class Calibrator:
    """The cells, wrk and the recorder's pairs of one calibration, in a temporary folder."""

    def __init__(
        self, workers: int, duration_s: float, judge: Judge, quiet: bool, profile: bool = False
    ) -> None:
        self.place = placements.choose("split")
        self.workers, self.duration_s, self.judge, self.quiet = workers, duration_s, judge, quiet
        self.tmp = Path(tempfile.mkdtemp(prefix="tornado-bench-calibrate-"))
        self.suite = calibration_suite(duration_s, len(self.place.server_cpus))
        if profile:  # calibrate --profile: the Locust side's map (harness/processes/profiler.py)
            self.suite = replace(self.suite, profile=ProfileSettings(target=GENERATOR))
        self.options = CellOptions(suite=self.suite, placement=self.place, workers=1)
        self.cells = {_role(c): c for c in self.suite.round(1)}
        self.children: list[procs.Child] = []  # the server of wrk and the recorder's pairs

    def stop(self) -> None:
        for child in self.children:
            child.stop()

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, flush=True)

    def cell(
        self, spec: CellSpec, round_no: int, acc: Rounds, workers: int = 1
    ) -> tuple[CellRecord, float]:
        """One cell exactly as a run runs it; its record and the judge's req/s (NaN: not
        valid, with the reason printed). A cell whose only fault is its generator's CPU above
        the run's limit counts: the generator at its limit is what calibrate measures, and
        leaving those rounds out would keep only the ones where it was least busy (counted in
        acc.at_limit)."""
        options = self.options if workers == 1 else replace(self.options, workers=workers)
        cell = replace(spec, repeat=round_no)
        cell_dir = RunLayout(self.tmp).cell(f"{cell.cell_id}-w{workers}").root
        record = run_cell(cell, cell_dir, options)
        verdict = self.judge(record, cell_dir)
        rps = verdict.rps_beside_generator
        if not math.isfinite(rps):
            self.say(
                f"  {cell.cell_id}: {verdict.status}, not counted: {verdict.line or record.reason}"
            )
        elif not math.isfinite(verdict.rps):
            acc.at_limit += 1
        return record, rps

    def round(self, r: int, acc: Rounds, wrk_base: str | None) -> Rounds:
        record, rps = self.cell(self.cells["ceiling"], r, acc)
        cost = cell_cost_ms(record, rps)
        acc.cost, acc.rps = acc.cost.added(cost), acc.rps.added(rps)
        acc.cpu = acc.cpu.added(record.loadgen_cpu_total_pct if rps > 0 else None)
        acc.busy = acc.busy.added(record.loadgen_core_pct if rps > 0 else None)
        check_record, check_rps = self.cell(self.cells["check"], r, acc)
        check = cell_cost_ms(check_record, check_rps)
        acc.check = acc.check.added(check)
        acc.check_rps = acc.check_rps.added(check_rps)
        server = server_cost_ms(check_record, check_rps)
        acc.server = acc.server.added(server)
        acc.headroom = acc.headroom.added(ratio(server, check))
        low_record, low_rps = self.cell(self.cells["low"], r, acc)
        for rec, r_rps in ((record, rps), (check_record, check_rps), (low_record, low_rps)):
            if r_rps > 0 and math.isfinite(rec.loadgen_cpu_total_pct):
                acc.points.append((r_rps, rec.loadgen_cpu_total_pct))
        ws_record, ws_rate = self.cell(self.cells["ws"], r, acc)
        ws_gen, ws_server = cell_cost_ms(ws_record, ws_rate), server_cost_ms(ws_record, ws_rate)
        acc.ws_rate = acc.ws_rate.added(ws_rate)
        acc.ws_gen, acc.ws_server = acc.ws_gen.added(ws_gen), acc.ws_server.added(ws_server)
        acc.ws_headroom = acc.ws_headroom.added(ratio(ws_server, ws_gen))
        line = (
            f"  round {r}: {USERS} users {rps:7.0f} req/s, generator {cost:.3f} ms/req at "
            f"{record.loadgen_core_pct:3.0f}% of its core; check ({CHECK_USERS} users) "
            f"{check:.3f} ms/req (server {server:.3f}); {LOW_USERS} user {low_rps:7.0f} req/s; "
            f"feed {ws_rate:5.0f} messages/s at {ws_gen * 1000:.1f} µs each (server "
            f"{ws_server * 1000:.1f})"
        )
        if wrk_base is not None:
            wrk = run_wrk(wrk_base, self.duration_s, set(self.place.loadgen_cpus))
            wrk_rps = wrk["wrk_rps"] if wrk else None
            acc.wrk = acc.wrk.added(wrk_rps)
            acc.ratio = acc.ratio.added(rps / wrk_rps if wrk_rps and rps > 0 else None)
            line += f"; wrk {wrk_rps or math.nan:7.0f} req/s"
        if self.workers > 1:
            n_record, n_rps = self.cell(self.cells["ceiling"], r, acc, self.workers)
            acc.at_n = acc.at_n.added(n_rps / self.workers if n_rps > 0 else None)
            acc.at_n_cpu = acc.at_n_cpu.added(
                n_record.loadgen_cpu_total_pct / self.workers if n_rps > 0 else None
            )
        self.say(line)
        return acc

    def server(self) -> tuple[procs.Child, str]:
        """A server like the ceiling cell's, for wrk and the recorder's pairs."""
        child, port = procs.start_listening(
            "server",
            lambda port_file: procs.server_argv(
                ServerConfig(variant="multiprocess", port=0, processes=len(self.place.server_cpus)),
                port_file,
            ),
            log_path=CellLayout(self.tmp).log(procs.SERVER),
            cpus=set(self.place.server_cpus),
            contain=True,
        )
        self.children.append(child)
        base = f"http://127.0.0.1:{port}"
        procs.wait_ready(base + "/health", child)
        return child, base

    def listener(self, base: str, rate: float, acc: Rounds) -> Estimate:
        """The recorder's cost in % of the generator's CPU at one offered rate: pairs of
        open-loop loads with and without it, each side's CPU over the same window. (Not
        points of the fixed-cost fit: an open loop's pacing costs CPU of its own, about
        twice a closed loop's per request at these rates.)"""
        pairs = Estimate(())
        for p in range(1, MAX_PAIRS + 1):
            cpu = {}
            for record in (True, False) if p % 2 else (False, True):
                cpu[record], _ = open_loop_cpu(
                    self.tmp, base, self.duration_s, self.place, record, rate
                )
            if cpu[True] > 0 and cpu[False] > 0:
                pairs = pairs.added((cpu[True] / cpu[False] - 1) * 100)
            self.say(
                f"  recorder pair {p}: {rate:.0f} req/s offered, CPU {cpu[True]:.1f}% with, "
                f"{cpu[False]:.1f}% without"
            )
            if pairs.n >= MIN_PAIRS and pairs.half_width <= LISTENER_TARGET_PTS:
                break
        return pairs


def open_loop_cpu(
    tmp: Path, base: str, duration_s: float, place: Any, record: bool, rate: float
) -> tuple[float, float]:
    """A Locust load at a fixed offered rate (the count of requests is then the same with and
    without the recorder): its own CPU % over the measured window (loadgen/cpu.py), and the
    window's req/s when it recorded (NaN without records)."""
    out = Path(tempfile.mkdtemp(dir=tmp))
    argv = locust_argv(
        scenario_file=SCENARIO_DIR / "hello.py",
        cell_dir=out,
        load=LoadSpec(
            base_url=base, users=USERS, warmup_s=WARMUP_S, duration_s=duration_s, rate=rate
        ),
        distribution=Distribution(local_workers=1),
    )
    if not record:
        argv.append("--bench-no-record")
    env = locust_env("")
    cpus = set(place.loadgen_cpus)
    log = CellLayout(out).log(procs.LOCUST)
    child = procs.start("locust", argv, log_path=log, env=env, cpus=cpus)
    try:
        child.popen.wait(timeout=duration_s + 60)
    finally:
        child.stop()
    summary = read_summary(out)
    if summary is None:
        raise UserError(f"calibrate: Locust wrote no {LOADGEN_FILE} (see {log})")
    cpu = statistics.fmean(w.cpu for w in summary.workers)
    window = summary.window.duration_s
    rps = summary.requests / window if record and window > 0 else math.nan
    return cpu, rps


def run_wrk(base: str, duration_s: float, cpus: set[int]) -> dict[str, float] | None:
    """wrk's req/s and latency with USERS connections on one thread, on the given cores."""
    if shutil.which("wrk") is None:
        return None
    cmd = ["wrk", "-t1", f"-c{USERS}", f"-d{max(1, round(duration_s))}s", "--latency"]
    cmd = ["taskset", "-c", ",".join(map(str, sorted(cpus))), *cmd, base + "/hello"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 30).stdout
    rate = re.search(r"Requests/sec:\s*([\d.]+)", out)
    lat = dict(re.findall(r"^\s*(50|99)%\s+([\d.]+\w+)", out, re.M))
    if rate is None:
        return None

    def ms(text: str | None) -> float:
        found = re.match(r"([\d.]+)(\w+)", text or "")
        if not found:
            return math.nan
        value, unit = found.groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}.get(unit, math.nan)

    return {
        "wrk_rps": float(rate.group(1)),
        "wrk_p50_ms": ms(lat.get("50")),
        "wrk_p99_ms": ms(lat.get("99")),
    }


def measure(
    workers: int,
    duration_s: float,
    judge: Judge = own_judge,
    quiet: bool = False,
    profile_dir: Path | None = None,
) -> Calibration:
    cal = Calibrator(workers, duration_s, judge, quiet, profile=profile_dir is not None)
    # SIGTERM stops a calibration as Ctrl-C does: its servers and Locust stopped, its folder
    # removed (without this, a terminated calibrate left its server and Locust running).
    with sigterm_as_interrupt(), contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, cal.tmp, ignore_errors=True)
        cleanup.callback(cal.stop)
        _, base = cal.server()
        with_wrk = shutil.which("wrk") is not None
        acc = Rounds()
        for r in range(1, MAX_ROUNDS + 1):
            acc = cal.round(r, acc, base if with_wrk else None)
            if acc.converged(with_wrk):
                break
        if not acc.cost.n:
            raise RuntimeError("no ceiling cell was valid; see the lines above")
        served = min(acc.rps.mean, acc.check_rps.mean if acc.check_rps.n else acc.rps.mean)
        rate = round(LISTENER_RATE_SHARE * served)
        pairs = cal.listener(base, rate, acc)
        if profile_dir is not None:
            profiler.keep(RunLayout(cal.tmp), profile_dir)
        return result_of(acc, pairs, workers, rate, cal.place.mode)


def calibrate(
    out: str | Path,
    *,
    workers: int,
    duration_s: float,
    judge: Judge = own_judge,
    profile: bool = False,
) -> int:
    """profile: also sample the Locust side of the cells, into calibration-profile/ beside
    calibration.json (README, "Profiles")."""
    folder = Path(out)
    print(
        f"calibrating the load generator (cells of {duration_s:g} s, {MIN_ROUNDS}-{MAX_ROUNDS} "
        f"rounds until each interval is within ±{TARGET_CI_PCT:g}%)...",
        flush=True,
    )
    try:
        profiles = calibration_profiles(folder) if profile else None
        result = measure(workers, duration_s, judge, profile_dir=profiles)
    except RuntimeError as exc:
        raise io.UserError(f"calibrate: {exc}") from None
    path = calibration.write(folder, result)
    for line in summary_lines(result):
        print(line)
    print(f"calibration: {path}")
    return 0
