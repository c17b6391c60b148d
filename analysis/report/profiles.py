"""The report's "Where the time goes" section: for each configuration's best load level (its
highest req/s among cells with a profile), the server's layers in one line, its threads'
time, its top frames by self time and its flame graphs; for each workload, what tells each
strategy apart from the fastest one. The markup is templates/profiles.html; this module
prepares plain data (the flame graphs are SVG text, escaped where they are drawn:
analysis/profile/flame.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from analysis.load import RunData
from analysis.profile import data, flame, readings
from analysis.profile.data import CPU_VIEW, WALL_VIEW, CellProfile
from analysis.profile.shares import by_label, self_time
from analysis.report.tables import Table, html_table

TITLE = "Where the time goes"
NOTE = (
    "A sampling profile of the server's processes over each measured window (py-spy, from "
    "outside the server, on the generator's cores): CPU shares are of the samples where a "
    "thread held the GIL (where the interpreter ran), threads' time of every thread at every "
    "tick, idle ones included. Each configuration at its best load level. Threads: holding "
    "the GIL; waiting for it (running or runnable without it while another thread held it); "
    "running without it (system calls, C code); idle (blocked on I/O, a lock, a sleep, the "
    "event loop's wait); in threads, summed over the process's threads."
)
TOP = 8  # frames listed per configuration
GROUP = ("variant", "environment", "loop", "scenario")


@dataclass(frozen=True)
class Frame:
    label: str
    layer: str
    cpu: str
    wall: str


@dataclass(frozen=True)
class Configuration:
    """One configuration's profile as the page shows it."""

    name: str  # strategy · loop · workload
    cell_id: str
    load: str
    layers: str  # CPU by layer, one line
    wall_layers: str
    threads: str  # the threads' time, one line
    frames: list[Frame]
    cpu_svg: str
    wall_svg: str
    anchor: str = ""


@dataclass(frozen=True)
class ProfilesView:
    table: Table | None
    items: list[str] = field(default_factory=list)  # what sets strategies apart
    configurations: list[Configuration] = field(default_factory=list)


def _label(row: pd.Series) -> str:
    env = row.get("environment")
    variant = str(row["variant"]) + (f"@{env}" if isinstance(env, str) and env else "")
    return f"{variant} · {row['loop']} · {row['scenario']}"


def _load(row: pd.Series) -> str:
    if bool(row.get("open_loop", False)) and math.isfinite(float(row.get("offered_rps", math.nan))):
        return f"{float(row['offered_rps']):g} req/s offered"
    return f"{int(row['users'])} users"


def best_cells(run: RunData, summary: pd.DataFrame) -> list[tuple[pd.Series, CellProfile]]:
    """Each configuration's cell with the highest req/s among those with a profile taken
    (valid ones first), in the summary's order."""
    if summary.empty:
        return []
    loaded: dict[str, CellProfile] = {}
    for cell_id in summary["cell_id"].astype(str):
        profile = data.load(run.cell_dir(cell_id), cell_id)
        if profile is not None and profile.record.ok and profile.wall:
            loaded[cell_id] = profile
    if not loaded:
        return []
    rows = summary[summary["cell_id"].astype(str).isin(loaded)].copy()
    keys = [k for k in GROUP if k in rows]
    rows["_valid"] = rows["valid"].fillna(False).astype(bool) if "valid" in rows else True
    rows["_rps"] = pd.to_numeric(rows["rps"], errors="coerce").fillna(-1.0)
    picked = []
    for _, group in rows.groupby([rows[k].fillna("").astype(str) for k in keys], sort=False):
        best = group.sort_values(["_valid", "_rps"], ascending=False, kind="stable").iloc[0]
        picked.append((best, loaded[str(best["cell_id"])]))
    order = {cid: i for i, cid in enumerate(summary["cell_id"].astype(str))}
    return sorted(picked, key=lambda rp: order[str(rp[0]["cell_id"])])


def _configuration(row: pd.Series, profile: CellProfile) -> Configuration:
    cpu, wall = profile.view(CPU_VIEW), profile.view(WALL_VIEW)
    cpu_of, wall_of = by_label(cpu, profile.roots), by_label(wall, profile.roots)
    ranked = self_time(cpu, profile.roots) or self_time(wall, profile.roots)
    frames = [
        Frame(
            s.label,
            s.layer,
            readings.pct(cpu_of.get(s.label, 0.0)),
            readings.pct(wall_of.get(s.label, 0.0)),
        )
        for s in ranked[:TOP]
    ]
    name = _label(row)
    return Configuration(
        name=name,
        cell_id=str(row["cell_id"]),
        load=_load(row),
        layers=readings.layers_line(profile, CPU_VIEW),
        wall_layers=readings.layers_line(profile, WALL_VIEW),
        threads=readings.time_line(profile.record),
        frames=frames,
        cpu_svg=flame.svg(cpu, profile.roots, f"{name}: CPU (holding the GIL)"),
        wall_svg=flame.svg(wall, profile.roots, f"{name}: every thread"),
        anchor="profile-" + str(row["cell_id"]),
    )


def _apart(best: list[tuple[pd.Series, CellProfile]]) -> list[str]:
    """Per workload (loop and scenario), each other strategy against the fastest: the frames
    that set them apart, in CPU and in threads' time."""
    items = []
    workloads: dict[tuple[str, str], list[tuple[pd.Series, CellProfile]]] = {}
    for row, profile in best:
        workloads.setdefault((str(row["loop"]), str(row["scenario"])), []).append((row, profile))
    for (loop, scenario), entries in workloads.items():
        if len(entries) < 2:
            continue
        ranked = sorted(entries, key=lambda e: -float(e[0].get("rps", 0) or 0))
        (top_row, top), rest = ranked[0], ranked[1:]
        a = str(top_row["variant"])
        for row, other in rest:
            b = str(row["variant"])
            for view in (CPU_VIEW, WALL_VIEW):
                line = readings.apart(a, top, b, other, view)
                if line:
                    items.append(f"{scenario} ({loop}): {line}.")
    return items


def view(run: RunData, summary: pd.DataFrame) -> ProfilesView | None:
    """The section's data; None when no cell of the run has a profile."""
    best = best_cells(run, summary)
    if not best:
        return None
    configurations = [_configuration(row, profile) for row, profile in best]
    frame = pd.DataFrame(
        [
            {
                "configuration": c.name,
                "load": c.load,
                "req/s": float(row["rps"]),
                "CPU by layer": c.layers,
                "waiting for the GIL": readings.gil_wait(profile.record),
                "top frame (CPU)": (f"{c.frames[0].label} {c.frames[0].cpu}" if c.frames else ""),
            }
            for c, (row, profile) in zip(configurations, best, strict=True)
        ]
    )
    table = html_table(
        frame,
        left={"configuration", "load", "CPU by layer", "top frame (CPU)"},
        formats={"req/s": lambda v: f"{v:.0f}", "waiting for the GIL": lambda v: f"{v:.2f}"},
    )
    return ProfilesView(table, _apart(best), configurations)
