"""After the load: merge the Locust processes' raw parts into the cell's records, apply the
window rule once (record.window), and reduce the resource samples to the cell's CPU figures."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import reduce
from pathlib import Path

import numpy as np
import pandas as pd

from loadgen.parts import read_part
from loadgen.recorder import PART_GLOB, WINDOW_GLOB
from record import io
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


def merge_records(cell_dir: Path) -> tuple[Window, int]:
    """Write requests.parquet (rows that completed inside the window) and outside.parquet (the
    rest) from every Locust process's part; return the window and how many processes wrote
    a part. With several Locust processes the window is where all of them were measuring."""
    metas = [json.loads(p.read_text()) for p in sorted(cell_dir.glob(WINDOW_GLOB))]
    if not metas:
        raise NoRecords("Locust wrote no records")
    windows = [Window(m["window_start"], m["window_end"]) for m in metas]
    window = reduce(Window.intersect, windows)
    parts = sorted(cell_dir.glob(PART_GLOB))
    frames = [read_part(p) for p in parts]
    frame = pd.concat(frames, ignore_index=True) if frames else None
    if frame is not None and frame["intended_start"].notna().any():
        stopped_at = {int(m.get("worker", 0)): m.get("stopped_at", window.end) for m in metas}
        write_slots(cell_dir, frame, window, stopped_at)
        frame = frame[frame["latency_ms"].notna()]  # answered requests only from here on
    if frame is not None:
        inside = window.holds_frame(frame)
        for name, rows in (("requests", frame[inside]), ("outside", frame[~inside])):
            rows = rows.sort_values("start", kind="stable")
            io.atomic_write(
                cell_dir / f"{name}.parquet", lambda tmp, f=rows: f.to_parquet(tmp, index=False)
            )
    for path in [*parts, *cell_dir.glob(WINDOW_GLOB)]:
        path.unlink()
    return window, len(metas)


# A request sent more than this after its slot was late (DESIGN.md: late_pct).
LATE_MS = 5.0


def write_slots(
    cell_dir: Path, frame: pd.DataFrame, window: Window, stopped_at: dict[int, float]
) -> None:
    """Open loop: slots.parquet, one row per slot of the schedule inside the window, answered
    or not. Corrected latency runs from the slot to the answer; a slot with no answer by the
    time the load stopped (never sent, or still waiting) counts as waiting until then, a
    lower bound: dropping it would hide exactly the requests a stalled server left waiting."""
    slots = frame[
        (frame["intended_start"] >= window.start) & (frame["intended_start"] < window.end)
    ]
    answered = slots["latency_ms"].notna().to_numpy()
    done = (slots["start"] + slots["latency_ms"] / 1000.0).to_numpy()
    # Each Locust process's slots wait at most until that process stopped.
    stops = slots["worker"].map(stopped_at).fillna(max(stopped_at.values())).to_numpy(float)
    end = np.where(answered, done, stops)
    late = ~(((slots["start"] - slots["intended_start"]) * 1000.0 <= LATE_MS).to_numpy())
    out = pd.DataFrame(
        {
            "intended_start": slots["intended_start"].to_numpy(),
            "corrected_ms": (end - slots["intended_start"].to_numpy()) * 1000.0,
            "answered": answered,
            "ok": slots["ok"].to_numpy() & answered,
            "late": late,  # sent over LATE_MS after its slot, or never sent
            "worker": slots["worker"].to_numpy(),
        }
    ).sort_values("intended_start", kind="stable")
    io.atomic_write(cell_dir / "slots.parquet", lambda tmp: out.to_parquet(tmp, index=False))


def write_samples(cell_dir: Path, samples: pd.DataFrame) -> None:
    io.atomic_write(cell_dir / "server_resources.csv", lambda tmp: samples.to_csv(tmp, index=False))


def _mean_total(samples: pd.DataFrame, role: str) -> float:
    part = samples[samples["role"] == role]
    if part.empty:
        return math.nan
    return float(part.groupby("t")["cpu_pct"].sum().mean())


def cpu_figures(
    samples: pd.DataFrame, window: Window, loadgen_cores: int, shared: bool = False
) -> CpuFigures:
    """`shared`: the generator's cores are the server's too (shared placement), so the server's
    CPU counts in how busy they were."""
    # Samples are instants, so both ends of the window count (unlike request completions).
    inside = samples[(samples["t"] >= window.start) & (samples["t"] <= window.end)]
    per_locust = inside[inside["role"] == "locust"].groupby("pid")["cpu_pct"].mean()
    busiest = float(per_locust.max()) if len(per_locust) else math.nan
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


# A process missing from this many consecutive samples before the window ends had died.
MISSED_SAMPLES = 2


def problems(samples: pd.DataFrame, window: Window, *, parts: int, workers: int) -> tuple[str, ...]:
    """What the harness saw go wrong during a cell whose load otherwise completed: a Locust
    worker that wrote no records (its requests are missing from the counts), or a server
    process that died mid-window (a forking server restarts it, so the load went on)."""
    found = []
    if parts < workers:
        found.append(f"Locust worker lost: {workers - parts} of {workers} wrote no records")
    server = samples[samples["role"] == "server"]
    if len(server):
        from harness.sampler import SAMPLE_INTERVAL_S

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
