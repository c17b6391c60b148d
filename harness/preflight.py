"""A look at the machine before the first cell (pyperf's `system show` is the model): what
other processes use of the CPU over one second, the load average, the CPU frequency governor
and turbo boost where /sys shows them, and the cores the placement gives the server and the
load generator. A machine that is not quiet is said in one line; `run --wait-quiet S` waits
up to S seconds for it to become quiet first. Each cell measures the same thing again over
its own window (harness/outcome.py foreign_cpu), so a machine that turns busy mid-run is
still caught there."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from harness.processes.sampler import used_time, whole_time
from record.records import Placement
from record.run_meta import Preflight

LOOK_S = 1.0
# Other processes using more than this share of any of the cell's cores over the look: not
# quiet. (A quiet machine here reads 0-3 %; a single busy loop anywhere reads 50 % or more.)
QUIET_PCT = 10.0
CPU_SYS = Path("/sys/devices/system/cpu")


def others_pct(cores: tuple[int, ...], seconds: float = LOOK_S) -> float:
    """The most any of `cores` was busy with other processes' work over `seconds` (%): each
    core's busy time minus this process's own, which runs on one of them at a time."""
    me = psutil.Process()
    before, mine_before = psutil.cpu_times(percpu=True), me.cpu_times()
    time.sleep(seconds)
    after, mine_after = psutil.cpu_times(percpu=True), me.cpu_times()
    mine = (mine_after.user + mine_after.system) - (mine_before.user + mine_before.system)
    worst = 0.0
    for core in cores or range(len(after)):
        if core >= len(after):
            continue
        a, b = before[core], after[core]
        total = whole_time(b) - whole_time(a)
        if total <= 0:
            continue
        busy = max(0.0, (used_time(b) - used_time(a)) - mine)
        worst = max(worst, min(100.0, 100.0 * busy / total))
    return worst


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def governors() -> tuple[str, ...]:
    """Each core's frequency governor ("performance", "powersave", ...), where /sys has one."""
    found = {_read(p) for p in CPU_SYS.glob("cpu[0-9]*/cpufreq/scaling_governor")}
    return tuple(sorted(g for g in found if g))


def boost() -> bool | None:
    """Whether turbo boost is on (a core's speed then varies with its neighbours' load and the
    temperature: pyperf disables it for benchmarks); None where /sys does not say."""
    generic = _read(CPU_SYS / "cpufreq" / "boost")
    if generic:
        return generic == "1"
    intel = _read(CPU_SYS / "intel_pstate" / "no_turbo")
    if intel:
        return intel == "0"
    return None


def look(placement: Placement, seconds: float = LOOK_S) -> Preflight:
    cores = tuple(sorted({*placement.server_cpus, *placement.loadgen_cpus}))
    return Preflight(
        at=time.time(),
        others_pct=others_pct(cores, seconds),
        load_average=os.getloadavg()[0],
        cores=os.cpu_count() or 1,
        governors=governors(),
        boost=boost(),
        server_cpus=placement.server_cpus,
        loadgen_cpus=placement.loadgen_cpus,
    )


def quiet(found: Preflight) -> bool:
    return not found.others_pct > QUIET_PCT


def line(found: Preflight) -> str:
    """What the preflight saw, in one line; "not quiet" leads when it was not."""
    if quiet(found):
        return f"preflight: {found.describe()}"
    return (
        f"preflight: NOT QUIET, figures may be the machine's: {found.describe()} "
        "(cells are flagged contended; --wait-quiet S waits)"
    )


def wait_quiet(
    placement: Placement,
    wait_s: float,
    say: Callable[[str], None],
    seconds: float = LOOK_S,
) -> Preflight:
    """Look; while the machine is not quiet and wait_s has not passed, look again. The last
    look, whatever it found (the run goes on either way)."""
    deadline = time.monotonic() + wait_s
    found = look(placement, seconds)
    told = False
    while not quiet(found) and time.monotonic() < deadline:
        if not told:
            say(f"waiting up to {wait_s:g} s for a quiet machine: {line(found)}")
            told = True
        found = look(placement, seconds)
    return found
