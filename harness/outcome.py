"""After the load: what the Locust side said of the cell (its records are already in their
Parquet files, record/stream.py), checked against Locust's own count, and the resource samples
reduced to the cell's CPU figures."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness.processes.profiler import GENERATOR_PROFILER, PROFILER
from harness.processes.sampler import CORE, HARNESS, SAMPLE_INTERVAL_S
from record import io
from record.layout import CellLayout
from record.loadgen_summary import WorkerRecord, read_summary
from record.window import Window


class NoRecords(Exception):
    """Locust wrote no records for the cell."""


@dataclass(frozen=True)
class CpuFigures:
    server_pct: float  # mean over the window of the summed CPU % of every server process
    backend_pct: float
    loadgen_pct: float  # the busiest Locust process: each is single-threaded
    loadgen_total_pct: float  # every Locust process together (CPU cost of the load)
    # How busy the load generator's cores were: the busiest Locust process, or everything
    # pinned to the generator's cores (Locust and the backend) shared over those cores,
    # whichever is higher. Two Locust processes at 45 % each on one core fill that core,
    # although neither looks busy on its own.
    loadgen_core_pct: float
    server_shares: dict[str, float]  # each server process's share of the server's CPU
    # Other processes' use of the cell's cores over the window (foreign_cpu), percent of the
    # server's cores and of the generator's: what is left of each group's busy time once the
    # cell's own processes (and the harness) are taken out. NaN without core samples.
    foreign_server_pct: float = math.nan
    foreign_generator_pct: float = math.nan


@dataclass(frozen=True)
class LoadgenOutcome:
    """What the Locust side said of the cell in loadgen.json (record/stream.py), checked."""

    window: Window
    records: int
    locust_requests: int | None
    workers: tuple[WorkerRecord, ...]
    problems: tuple[str, ...]  # each makes the cell invalid
    notes: tuple[str, ...]


# Records and Locust's own count may differ by this fraction before the cell is invalid: a
# request Locust counted but nobody recorded (or the reverse) means lost or doubled records.
COUNT_TOLERANCE = 0.001


def reconcile(records: int, locust_requests: int | None) -> tuple[list[str], list[str]]:
    """(problems, notes) from comparing the stored records with Locust's own request count
    for the whole cell (window and outside together)."""
    if locust_requests is None or records == locust_requests:
        return [], []
    gap = abs(records - locust_requests) / max(locust_requests, 1)
    line = f"{records} records vs Locust's count of {locust_requests} ({gap:.2%} apart)"
    return ([line], []) if gap > COUNT_TOLERANCE else ([], [line])


def read_outcome(cell_dir: Path) -> LoadgenOutcome:
    summary = read_summary(cell_dir)
    if summary is None:
        raise NoRecords("Locust wrote no records")
    problems, notes = reconcile(summary.records, summary.locust_requests)
    notes += [f"refused {line}" for line in summary.refused]
    return LoadgenOutcome(
        window=summary.window,
        records=summary.records,
        locust_requests=summary.locust_requests,
        workers=summary.workers,
        problems=(*summary.problems, *problems),
        notes=tuple(notes),
    )


def write_samples(cell_dir: Path, samples: pd.DataFrame) -> None:
    io.atomic_write(CellLayout(cell_dir).resources, lambda tmp: samples.to_csv(tmp, index=False))


def _mean_total(samples: pd.DataFrame, role: str) -> float:
    part = samples[samples["role"] == role]
    if part.empty:
        return math.nan
    return float(part.groupby("t")["cpu_pct"].sum().mean())


def cpu_figures(
    samples: pd.DataFrame,
    window: Window,
    loadgen_cores: int,
    shared: bool = False,
    reported: tuple[float, ...] = (),
) -> CpuFigures:
    """`shared`: the generator's cores are the server's too (shared placement), so the server's
    CPU counts in how busy they were. `reported`: each Locust worker's own CPU % over the
    window (loadgen/cpu.py), the only figure there is for a worker on another machine."""
    # Samples are instants, so both ends of the window count (unlike request completions).
    inside = samples[window.covers(samples["t"])]
    per_locust = inside[inside["role"] == "locust"].groupby("pid")["cpu_pct"].mean()
    busiest = float(per_locust.max()) if len(per_locust) else math.nan
    own = [v for v in reported if v is not None and not math.isnan(v)]
    if own:
        busiest = max(own) if math.isnan(busiest) else max(busiest, *own)
    locust_total = _mean_total(inside, "locust")
    backend = _mean_total(inside, "backend")
    server_total = _mean_total(inside, "server")
    near = (locust_total, backend, server_total) if shared else (locust_total, backend)
    on_cores = sum(v for v in near if not math.isnan(v))
    per_server = inside[inside["role"] == "server"].groupby("pid")["cpu_pct"].sum()
    total = float(per_server.sum())
    return CpuFigures(
        server_pct=_mean_total(inside, "server"),
        backend_pct=backend,
        loadgen_pct=busiest,
        loadgen_total_pct=locust_total,
        loadgen_core_pct=max(busiest, on_cores / max(loadgen_cores, 1)),
        server_shares={str(pid): float(v / total) for pid, v in per_server.items()}
        if total > 0
        else {},
    )


# The roles whose CPU is the cell's own on each group of cores (split placement: the server
# pinned to its cores; Locust, the backend and the database to the generator's; py-spy on the
# other side's cores from the one it profiles: harness/processes/profiler.py).
SERVER_ROLES = ("server", GENERATOR_PROFILER)
GENERATOR_ROLES = ("locust", "backend", PROFILER)


def foreign_cpu(
    samples: pd.DataFrame,
    window: Window,
    server_cpus: tuple[int, ...],
    loadgen_cpus: tuple[int, ...],
) -> tuple[float, float]:
    """(server's cores, generator's cores): the share of those cores' time (%) that processes
    outside the cell used during the window, steal included. Per sample: each group's busy
    time minus what the cell's processes on it used; the harness's own (unpinned) time is
    taken off both in proportion. With shared placement both groups are every core, and both
    figures are the same."""
    inside = samples[window.covers(samples["t"])]
    cores = inside[inside["role"] == CORE]
    if cores.empty:
        return math.nan, math.nan
    busy = cores.pivot_table(index="t", columns="pid", values="cpu_pct", aggfunc="sum")
    procs = inside[inside["role"] != CORE].pivot_table(
        index="t", columns="role", values="cpu_pct", aggfunc="sum"
    )
    procs = procs.reindex(busy.index).fillna(0.0)

    def used(roles: tuple[str, ...]) -> pd.Series:
        present = [r for r in roles if r in procs]
        return procs[present].sum(axis=1) if present else pd.Series(0.0, index=busy.index)

    def group(cpus: tuple[int, ...]) -> pd.Series:
        present = [c for c in cpus if c in busy]
        return busy[present].sum(axis=1) if present else pd.Series(math.nan, index=busy.index)

    harness = used((HARNESS,))
    if set(server_cpus) == set(loadgen_cpus):  # shared: every process on every core
        everyone = used((*SERVER_ROLES, *GENERATOR_ROLES, HARNESS))
        share = ((group(server_cpus) - everyone).clip(lower=0) / len(server_cpus)).mean()
        return float(share), float(share)
    on_server = (group(server_cpus) - used(SERVER_ROLES)).clip(lower=0)
    on_generator = (group(loadgen_cpus) - used(GENERATOR_ROLES)).clip(lower=0)
    both = (on_server + on_generator).where(lambda x: x > 0)
    on_server = (on_server - harness * on_server / both).fillna(on_server).clip(lower=0)
    on_generator = (on_generator - harness * on_generator / both).fillna(on_generator).clip(lower=0)
    return (
        float((on_server / max(len(server_cpus), 1)).mean()),
        float((on_generator / max(len(loadgen_cpus), 1)).mean()),
    )


def peak_rss(samples: pd.DataFrame, window: Window, role: str = "server") -> float:
    """The largest RSS (bytes) of a role's processes together at one sample in the window;
    NaN without samples."""
    inside = samples[
        (samples["t"] >= window.start) & (samples["t"] <= window.end) & (samples["role"] == role)
    ]
    if inside.empty:
        return math.nan
    return float(inside.groupby("t")["rss_bytes"].sum().max())


# A process missing from this many consecutive samples before the window ends had died.
MISSED_SAMPLES = 2


def problems(samples: pd.DataFrame, window: Window) -> tuple[str, ...]:
    """What the harness saw go wrong during a cell whose load otherwise completed: a server
    process that died mid-window (a forking server restarts it, so the load went on). A lost
    Locust worker is the master's to see (loadgen/master.py)."""
    found = []
    server = samples[samples["role"] == "server"]
    if len(server):
        first_seen = server.groupby("pid")["t"].min()
        last_seen = server.groupby("pid")["t"].max()
        cutoff = min(window.end, server["t"].max()) - MISSED_SAMPLES * SAMPLE_INTERVAL_S
        for pid, seen in last_seen.items():
            # Alive at the window's start (its last sample at most one interval before it),
            # gone before its end.
            # (A process born inside the window, a per-request helper or a replacement, is no
            # death of a process that was serving.)
            born = first_seen[pid] <= window.start
            if born and window.start - SAMPLE_INTERVAL_S <= seen < cutoff:
                found.append(
                    f"server process {pid} died during the window at {seen - window.start:.1f} s"
                )
    return tuple(found)
