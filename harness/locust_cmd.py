"""The Locust command line of one cell: the scenario file (a built-in one, or the user's own,
unchanged) plus the recorder plugin, headless, the users at once, the harness's window options,
and the scenario's parameters as `--name value` (a user's file declares its own)."""

from __future__ import annotations

import math
from pathlib import Path

from harness.procs import python_argv
from harness.timing import TAIL_S, planned_load_s

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PLUGIN = PROJECT_ROOT / "loadgen" / "locust_plugin.py"
# The plugin stops Locust on time; --run-time (whole seconds) only backs it up.
BACKSTOP_S = 5


def locust_argv(
    *,
    scenario_file: Path,
    base_url: str,
    cell_dir: Path,
    users: int,
    params: dict[str, int],
    warmup_s: float,
    duration_s: float,
    workers: int = 1,
    rate: float | None = None,
    arrivals: str = "constant",
) -> list[str]:
    """`users` is the closed loop's user count, or with a `rate` the open loop's bound on
    requests in flight (each Locust user holds at most one)."""
    backstop = math.ceil(planned_load_s(warmup_s, duration_s)) + BACKSTOP_S
    argv = python_argv(
        "-m",
        "locust",
        "-f",
        f"{scenario_file},{PLUGIN}",
        "--headless",
        "--users",
        str(users),
        # Every user starts at once: the warm-up, not a ramp, separates start-up from the window.
        "--spawn-rate",
        str(max(users * 10, 1)),
        "--run-time",
        f"{backstop}s",
        "--host",
        base_url,
        "--csv",
        str(cell_dir / "locust"),
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--stop-timeout",
        "0",
        "--exit-code-on-error",
        "0",
        "--bench-out",
        str(cell_dir),
        "--bench-warmup",
        str(warmup_s),
        "--bench-duration",
        str(duration_s),
        "--bench-tail",
        str(TAIL_S),
    )
    for key, value in params.items():
        argv += [f"--{key}", str(value)]
    if rate is not None:
        argv += ["--bench-rate", f"{rate:g}", "--bench-arrivals", arrivals]
    if workers > 1:
        argv += ["--processes", str(workers)]
    return argv
