"""`run_bench.py calibrate`: how much load this machine's generator can make, measured.

- The ceiling: the fastest server here (`multiprocess` `/hello` on the server's cores) loaded by
  the Locust workers on the generator's cores; the req/s one worker makes per 90 % of a core,
  from its own req/s and CPU (the utilization law: rate = busy fraction / cost per request, so
  the ceiling is 0.9 / measured CPU seconds per request). A cell above 80 % of it measures the
  generator as much as the server (analysis/validity.py reads the figure from run.json).
- The recorder's cost: the same offered rate (an open loop) with and without the raw-record
  listener, alternated (A B A B) in one calibration, as Locust CPU time per request.
- wrk, when installed: its req/s and latency on the same server, connections and duration, and
  the harness/wrk ratio.

Writes calibration.json in the results folder; later runs there store it in run.json.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import placement as placements
from harness import procs
from harness.locust_cmd import PROJECT_ROOT, SCENARIO_DIR, Distribution, locust_argv, worker_argv
from record import io

CALIBRATION_FILE = "calibration.json"
USERS = 32
CEILING_BUSY = 0.9


def _locust(
    tmp: Path,
    base: str,
    duration_s: float,
    workers: int,
    cpus: set[int],
    record: bool,
    rate: float | None = None,
) -> dict[str, Any]:
    """Run one load (closed loop, or open at `rate`) and return its loadgen.json summary."""
    out = Path(tempfile.mkdtemp(dir=tmp))
    dist = Distribution(local_workers=workers)
    if dist.distributed:
        dist = Distribution(local_workers=workers, master_port=procs.free_port(), token="calibrate")
    argv = locust_argv(
        scenario_file=SCENARIO_DIR / "hello.py",
        base_url=base,
        cell_dir=out,
        users=USERS,
        params={},
        warmup_s=1.0,
        duration_s=duration_s,
        rate=rate,
        distribution=dist,
    )
    if not record:
        argv.append("--bench-no-record")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "BENCH_TOKEN": dist.token}
    children = [procs.start("locust", argv, log_path=out / "locust.log", env=env, cpus=cpus)]
    if dist.distributed:
        for i in range(workers):
            w_argv = worker_argv(SCENARIO_DIR / "hello.py", "127.0.0.1", dist.master_port)
            w_env = {**env, "BENCH_LOCAL_WORKER": "1"}
            children.append(procs.start(f"w{i}", w_argv, env=w_env, cpus=cpus))
    try:
        children[0].popen.wait(timeout=duration_s + 60)
    finally:
        for child in children:
            child.stop()
    summary = json.loads((out / "loadgen.json").read_text())
    return summary


def _per_request_ms(summary: dict[str, Any]) -> tuple[float, float, float]:
    """(req/s per worker, CPU % per worker, CPU ms per request) over the window."""
    workers = summary["workers"]
    seconds = summary["window"]["end"] - summary["window"]["start"]
    cpu = statistics.mean(float(w["cpu_pct"]) for w in workers)
    count = summary["requests"] if summary["records"] else summary["locust_requests"]
    if not summary["records"]:  # without records: Locust's count over the whole load
        seconds = summary["stopped_at"] - summary["t0"]
    rps = count / seconds / len(workers)
    return rps, cpu, cpu * 10.0 / rps if rps > 0 else math.nan


def _wrk(base: str, duration_s: float, cpus: set[int]) -> dict[str, float] | None:
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
        if not text:
            return math.nan
        value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}.get(unit, math.nan)

    return {
        "wrk_rps": float(rate.group(1)),
        "wrk_p50_ms": ms(lat.get("50")),
        "wrk_p99_ms": ms(lat.get("99")),
    }


def measure(workers: int, duration_s: float, quiet: bool = False) -> dict[str, Any]:
    place = placements.choose("split")
    tmp = Path(tempfile.mkdtemp(prefix="tornado-bench-calibrate-"))
    server, port = procs.start_listening(
        "server",
        lambda port_file: procs.server_argv(
            "multiprocess", 0, processes=len(place.server_cpus), port_file=port_file
        ),
        log_path=tmp / "server.log",
        cpus=set(place.server_cpus),
        contain=True,
    )
    base = f"http://127.0.0.1:{port}"
    loadgen = set(place.loadgen_cpus)
    try:
        procs.wait_ready(base + "/health", server)
        # The ceiling: closed loop, as many users as it takes to fill the worker's core.
        full = _per_request_ms(_locust(tmp, base, duration_s, 1, loadgen, True))
        if not quiet:
            print(f"  1 worker: {full[0]:7.0f} req/s at {full[1]:5.1f}% CPU", flush=True)
        # The recorder's cost: the same offered rate (an open loop at 60 % of that), with and
        # without it, alternated; the CPU each spent per request is then comparable.
        rate = round(0.6 * full[0])
        cpu = {True: [], False: []}
        for record in (True, False, True, False):
            rps, pct, ms = _per_request_ms(_locust(tmp, base, duration_s, 1, loadgen, record, rate))
            cpu[record].append(ms)
            if not quiet:
                print(
                    f"  {rate} req/s offered, recorder {'on ' if record else 'off'}: "
                    f"{rps:7.0f} req/s at {pct:5.1f}% CPU",
                    flush=True,
                )
        many = _per_request_ms(_locust(tmp, base, duration_s, workers, loadgen, True))
        result: dict[str, Any] = {
            "measured_at": time.time(),
            "server": "multiprocess /hello",
            "users": USERS,
            "workers": workers,
            "rps_per_worker": full[0],
            "cpu_pct_per_worker": full[1],
            "cpu_ms_per_req": full[2],
            "ceiling_rps_per_worker": CEILING_BUSY * 1000.0 / full[2],
            "listener_rate": rate,
            "listener_overhead_pct": (statistics.mean(cpu[True]) / statistics.mean(cpu[False]) - 1)
            * 100,
            "rps_per_worker_at_n": many[0],
            "cpu_pct_per_worker_at_n": many[1],
        }
        wrk = _wrk(base, duration_s, loadgen)
        if wrk is not None:
            result |= wrk
            result["harness_rps"] = result["rps_per_worker"]
            result["harness_wrk_ratio"] = result["rps_per_worker"] / wrk["wrk_rps"]
        return result
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def calibrate(out: str | Path, *, workers: int, duration_s: float) -> int:
    folder = Path(out)
    print(f"calibrating the load generator ({duration_s:g} s per measurement)...", flush=True)
    result = measure(workers, duration_s)
    io.write_json(folder / CALIBRATION_FILE, result)
    print(f"ceiling: {result['ceiling_rps_per_worker']:.0f} req/s per Locust worker at 90% CPU")
    print(f"recorder cost: {result['listener_overhead_pct']:+.1f}% CPU per request")
    if workers > 1:
        print(
            f"{workers} workers: {result['rps_per_worker_at_n']:.0f} req/s each at "
            f"{result['cpu_pct_per_worker_at_n']:.0f}% CPU"
        )
    if "wrk_rps" in result:
        print(f"wrk: {result['wrk_rps']:.0f} req/s; harness/wrk {result['harness_wrk_ratio']:.2f}")
    else:
        print("wrk: not installed (apt-get install wrk), no comparison")
    print(f"calibration: {folder / CALIBRATION_FILE}")
    return 0


def latest(folder: Path) -> dict[str, Any]:
    """The calibration stored in a results folder ({} when there is none or it is unreadable)."""
    path = folder / CALIBRATION_FILE
    if not path.exists():
        return {}
    try:
        data = io.read_json(path)
    except Exception:  # a damaged calibration must not stop a run
        return {}
    return {k: v for k, v in data.items() if k != "schema_version"}
