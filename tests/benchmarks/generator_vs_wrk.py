"""Where does one Locust process start to shape the result? The same server, the same
concurrency and duration, loaded alternately by Locust (the harness's FastHttpUser /hello
scenario) and by wrk, with the generator pinned to one core and the server to another.
Prints, per concurrency, Locust's req/s, its CPU and the Locust/wrk ratio.

    python -m tests.benchmarks.generator_vs_wrk [--users 1,2,4,8,16] [--seconds 6] [--rounds 2]
        [--variant sync] [--sleep-ms 50]   # /sleep?ms=50 instead of /hello

Needs wrk (Debian package wrk). Load goes to 127.0.0.1 only."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from catalog.server_config import ServerConfig
from harness.processes import procs

ROOT = Path(__file__).resolve().parents[2]


def _cpu_s(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            continue
    return total


def locust_rate(
    base: str, users: int, seconds: float, core: int, sleep_ms: int | None = None
) -> tuple[float, float]:
    """(req/s, CPU % of its core) of one Locust process over the run, warm-up excluded."""
    scenario = "hello.py" if sleep_ms is None else "sleep.py"
    with tempfile.TemporaryDirectory() as out:
        argv = procs.python_argv(
            "-m",
            "locust",
            "-f",
            f"{ROOT / 'scenarios' / scenario},{ROOT / 'loadgen' / 'locust_plugin.py'}",
            "--headless",
            "--users",
            str(users),
            "--spawn-rate",
            str(users * 10),
            "--run-time",
            f"{int(seconds) + 8}s",
            "--host",
            base,
            "--only-summary",
            "--loglevel",
            "ERROR",
            "--stop-timeout",
            "0",
            "--bench-out",
            out,
            "--bench-warmup",
            "1",
            "--bench-duration",
            str(seconds),
            "--bench-tail",
            "0.2",
            *([] if sleep_ms is None else ["--ms", str(sleep_ms)]),
        )
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        child = procs.start("locust", argv, env=env, cwd=ROOT, cpus={core})
        proc = psutil.Process(child.pid)
        time.sleep(1.5)  # start-up and warm-up
        c0, t0 = _cpu_s(proc), time.monotonic()
        time.sleep(seconds - 0.6)
        cpu = (_cpu_s(proc) - c0) / (time.monotonic() - t0) * 100
        child.popen.wait(timeout=60)
        import pandas as pd

        from harness.outcome import read_outcome

        window = read_outcome(Path(out)).window
        count = len(pd.read_parquet(Path(out) / "requests.parquet"))
        return count / window.duration_s, cpu


def wrk_rate(base: str, users: int, seconds: float, core: int, path: str = "/hello") -> float:
    result = subprocess.run(
        [
            "taskset",
            "-c",
            str(core),
            "wrk",
            "-t1",
            f"-c{users}",
            f"-d{int(seconds)}s",
            f"{base}{path}",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
    )
    match = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    if not match:
        raise RuntimeError(result.stdout + result.stderr)
    return float(match.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="1,2,4,8,16")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--variant", default="sync")
    parser.add_argument("--sleep-ms", type=int, help="load /sleep?ms=N instead of /hello")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 1
    cpus = sorted(os.sched_getaffinity(0))
    server_core, gen_core = cpus[0], cpus[-1]
    port = procs.free_port()
    server = procs.start(
        "server",
        procs.server_argv(ServerConfig(variant=args.variant, port=port)),
        cwd=ROOT,
        cpus={server_core},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        procs.wait_ready(base + "/health", server)
        path = "/hello" if args.sleep_ms is None else f"/sleep?ms={args.sleep_ms}"
        print(f"{args.variant} {path}, server on CPU {server_core}, generator on CPU {gen_core}")
        print("| users | Locust req/s | Locust CPU % | wrk req/s | Locust / wrk |")
        print("|---|---|---|---|---|")
        for users in [int(u) for u in args.users.split(",")]:
            for _ in range(args.rounds):  # alternate, so drift hits both alike
                rate, cpu = locust_rate(base, users, args.seconds, gen_core, args.sleep_ms)
                ref = wrk_rate(base, users, args.seconds, gen_core, path)
                print(
                    f"| {users} | {rate:,.0f} | {cpu:.0f} | {ref:,.0f} | {rate / ref:.2f} |",
                    flush=True,
                )
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
