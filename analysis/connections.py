"""Long-lived connections in the summary: each cell's connections.json (record/connections.py)
joined to its row, and the columns derived from it (schema 5): connections held against the
target, memory per connection (server and load generator), delivery latency of feeds. A
cell that held fewer than 95 % of its target is marked, and stays valid: not holding them
may be the finding, as a target rate not reached is.

And the C10K table (c10k_table): per strategy and loop, the largest number of feed
subscribers each served its broadcasts to in time, by hashrocket's criterion and by delivery
p99, each marked with what ended the search (the server, the generator, the machine, or the
search's top)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from catalog import workloads
from record.connections import HELD_SHARE_MIN, ConnectionFigures
from record.layout import CellLayout, RunLayout
from record.window import Window

if TYPE_CHECKING:  # analysis/load.py imports this module
    from analysis.load import RunData

FIGURE_COLUMNS = (
    "connections_target",
    "connections_held",
    "connections_held_end",
    "connect_failures",
    "connect_p99_ms",
    "server_rss_before_mb",
    "server_rss_mb",
    "locust_rss_before_mb",
    "locust_rss_mb",
    "polls_waiting_max",
    "records_delivery_p50_ms",
    "records_delivery_p99_ms",
)
KB = 1024.0


def figure_row(figures: ConnectionFigures | None) -> dict[str, float]:
    if figures is None:
        return dict.fromkeys(FIGURE_COLUMNS, math.nan)
    return {
        "connections_target": float(figures.target),
        "connections_held": figures.held_start,
        "connections_held_end": figures.held_end,
        "connect_failures": float(figures.connect_failures),
        "connect_p99_ms": figures.connect_p99_ms,
        "server_rss_before_mb": figures.server_rss_before_mb,
        "server_rss_mb": figures.server_rss_mb,
        "locust_rss_before_mb": figures.locust_rss_before_mb,
        "locust_rss_mb": figures.locust_rss_mb,
        "polls_waiting_max": figures.polls_waiting_max,
        "records_delivery_p50_ms": _or_nan(figures.delivery_p50_ms),
        "records_delivery_p99_ms": _or_nan(figures.delivery_p99_ms),
    }


def _or_nan(value: float | None) -> float:
    """A figure the file may leave out (None) as the NaN a summary column holds."""
    return math.nan if value is None else value


def held_note(target: float, held: float) -> str:
    """The mark of a cell that held too few of its connections ("" when it held enough, or
    when the count is unknown)."""
    if not (math.isfinite(target) and math.isfinite(held)) or held >= HELD_SHARE_MIN * target:
        return ""
    return f"held {held:.0f} of {target:.0f} connections"


def join_figures(cells: pd.DataFrame, root: Path) -> pd.DataFrame:
    """Cell rows (analysis/load.py) with their connection figures; a held-too-few mark joins
    the cell's notes."""
    if cells.empty:
        return cells
    rows = [
        figure_row(ConnectionFigures.read(RunLayout(root).cell(cid).root))
        for cid in cells["cell_id"]
    ]
    out = pd.concat([cells.reset_index(drop=True), pd.DataFrame(rows)], axis=1)
    notes = []
    for row in out.itertuples(index=False):
        note = held_note(row.connections_target, row.connections_held)
        before = str(getattr(row, "cell_notes", "") or "")
        notes.append("; ".join(n for n in (before, note) if n))
    out["cell_notes"] = notes
    return out


def add_derived(summary: pd.DataFrame) -> pd.DataFrame:
    """kb_per_connection (server and Locust: resident memory with the connections held minus
    before the first, per connection held; for poll per connection open) and a feed's delivery
    percentiles (its records' latency is the delivery latency: received minus the server's send
    time; any other cell's are its delivery records', from connections.json)."""
    out = summary.copy()
    for col in FIGURE_COLUMNS:
        if col not in out:
            out[col] = math.nan
    held = out["connections_held"].where(out["connections_held"] > 0)
    target = out["connections_target"].where(out["connections_target"] > 0)
    # For poll, connections_held counts the polls waiting at once, while every user keeps its
    # HTTP connection open (waiting, queued or between polls): per target connection.
    poll = (
        out.get("scenario_name", pd.Series("", index=out.index)).map(_live) == workloads.LIVE_POLL
    )
    per = held.where(~poll, target)
    # A user's file of long-polls alone (harness/connections.py from_records): per poll waiting.
    waiting = out["polls_waiting_max"].where(out["polls_waiting_max"] > 0)
    per = per.fillna(waiting)
    out["kb_per_connection"] = (out["server_rss_mb"] - out["server_rss_before_mb"]) * KB / per
    # Each Locust user holds its own socket whatever the server does: per target connection.
    out["locust_kb_per_connection"] = (
        (out["locust_rss_mb"] - out["locust_rss_before_mb"]) * KB / target
    )
    feed = (
        out.get("scenario_name", pd.Series("", index=out.index)).map(_live) == workloads.LIVE_FEED
    )
    for mine, theirs in (("delivery_p50_ms", "p50_ms"), ("delivery_p99_ms", "p99_ms")):
        source = out[theirs] if theirs in out else pd.Series(math.nan, index=out.index)
        # Any other cell's deliveries are its `:deliver` records (harness/connections.py).
        out[mine] = source.where(feed, out[f"records_{mine}"])
    return out


def _live(scenario: object) -> str:
    """What a long-lived workload's messages are (catalog/workloads.py); "" for the rest."""
    return workloads.live(str(scenario))


# --- The C10K search: how many subscribers each strategy serves a broadcast to in time -------

# hashrocket's websocket-bench criterion, reused: a broadcast counts when every subscriber
# has it within BROADCAST_SLO_MS of its send, and a cell passes when BROADCAST_SHARE of its
# broadcasts do. Beside it, the project's own: delivery p99 under DELIVERY_P99_MS.
BROADCAST_SLO_MS = 500.0
BROADCAST_SHARE = 0.95
DELIVERY_P99_MS = 100.0
# Why a strategy's ladder ended: the server (a cell failed with its generator well), the
# generator (the failing cell's generator was at or near its limit, or its event loop
# stalled: the server may have done better), the machine (other processes took the cores),
# or nothing failed: the search's top step passed.
ENDED_SERVER, ENDED_GENERATOR, ENDED_MACHINE, ENDED_TOP = "server", "generator", "machine", "top"
GENERATOR_WORDS = ("generator-limited", "generator stalled", "load generator")


@dataclass(frozen=True)
class Broadcasts:
    """A feed cell's broadcasts sent inside its window (early enough to be delivered in time
    before it ended): how many, how many reached every subscriber within BROADCAST_SLO_MS,
    and the p95 of their completion (send to the last subscriber's arrival; infinite for one
    that some subscriber never had in the window)."""

    counted: int
    within: int
    p95_ms: float

    def __post_init__(self) -> None:
        if not 0 <= self.within <= self.counted:
            raise ValueError(f"{self.within} broadcasts within of {self.counted}")

    @property
    def share(self) -> float:
        return self.within / self.counted if self.counted else math.nan

    @property
    def passes(self) -> bool:
        return self.counted > 0 and self.share >= BROADCAST_SHARE


NO_BROADCASTS = Broadcasts(0, 0, math.nan)


def subscribers(readings: pd.DataFrame, window: Window) -> list[int]:
    """Each server process's subscribers over the window, from a cell's connections.csv: the
    median of its readings inside the window (a forking server answers /health from one
    process at a time, so a process's latest reading at the window's start may date from the
    ramp), its latest before the window for a process not read inside it."""
    if readings.empty:
        return []
    out = []
    for _, mine in readings.sort_values("t").groupby("pid"):
        inside = mine[(mine["t"] >= window.start) & (mine["t"] <= window.end)]
        if len(inside):
            out.append(int(inside["websockets"].median()))
        else:
            before = mine[mine["t"] < window.start]
            out.append(int((before if len(before) else mine)["websockets"].iloc[-1]))
    return [n for n in out if n > 0]


def broadcast_figures(
    requests: pd.DataFrame, window: Window, per_process: Sequence[int]
) -> Broadcasts:
    """Broadcasts of one feed cell from its window's delivery records (start: the server's
    send stamp, one per broadcast of a process; latency_ms: its delivery). A broadcast is the
    records sharing a send stamp; it reached every subscriber when it has as many deliveries
    as the server process that sent it had subscribers: with several processes (a forking
    server) that process is the one whose count is nearest (records do not say which sent
    it). Only broadcasts sent from the window's start to BROADCAST_SLO_MS before its end
    count: each of their timely deliveries completed inside the window."""
    if requests.empty or not per_process:
        return NO_BROADCASTS
    ok = requests[requests["ok"].astype(bool)] if "ok" in requests else requests
    if "endpoint" in ok:  # handshakes that completed late are no deliveries
        ok = ok[~ok["endpoint"].astype(str).str.endswith(":connect")]
    sent = ok["start"].to_numpy(dtype=float)
    keep = (sent >= window.start) & (sent <= window.end - BROADCAST_SLO_MS / 1000.0)
    if not keep.any():
        return NO_BROADCASTS
    frame = pd.DataFrame({"sent": sent[keep], "ms": ok["latency_ms"].to_numpy(dtype=float)[keep]})
    groups = frame.groupby("sent")["ms"].agg(["size", "max"])
    counts = np.asarray(sorted(per_process), dtype=float)
    nearest = counts[np.abs(counts[None, :] - groups["size"].to_numpy()[:, None]).argmin(axis=1)]
    complete = groups["size"].to_numpy() >= nearest
    completion = np.where(complete, groups["max"].to_numpy(), math.inf)
    within = int((completion <= BROADCAST_SLO_MS).sum())
    ordered = np.sort(completion)
    rank = max(math.ceil(0.95 * len(ordered)), 1)  # nearest rank, the project's rule
    return Broadcasts(len(ordered), within, float(ordered[rank - 1]))


def feed_broadcasts(run: RunData) -> dict[str, Broadcasts]:
    """Broadcasts of every measured ws-feed cell of a run (its window's records, one cell's
    rows at a time, and its connections.csv)."""
    out: dict[str, Broadcasts] = {}
    for cell_id, record in run.records.items():
        if record.window is None or workloads.live(record.cell.scenario) != workloads.LIVE_FEED:
            continue
        csv = CellLayout(run.cell_dir(cell_id)).connections_csv
        readings = pd.read_csv(csv) if csv.exists() else pd.DataFrame()
        rows = run.cell_requests(cell_id, ["start", "latency_ms", "ok", "endpoint"])
        out[cell_id] = broadcast_figures(rows, record.window, subscribers(readings, record.window))
    return out


def _ended_by(cell: Any) -> str:
    """Why a failing cell failed: its generator, the machine, or the server."""
    notes = str(getattr(cell, "notes", "") or "")
    if bool(getattr(cell, "generator_limited", False)) or any(w in notes for w in GENERATOR_WORDS):
        return ENDED_GENERATOR
    if bool(getattr(cell, "contended", False)):
        return ENDED_MACHINE
    return ENDED_SERVER


def _held(cell: Any) -> bool:
    target, held = float(cell.connections_target), float(cell.connections_held)
    return math.isfinite(held) and held >= HELD_SHARE_MIN * target


def _largest(steps: list[tuple[float, list[Any]]], passes: Any) -> tuple[float, str]:
    """The largest N at which every step up to it passed (each of its repeats), and why the
    ladder ended there."""
    best = math.nan
    for target, cells in steps:
        failing = [c for c in cells if not passes(c)]
        if failing:
            return best, _ended_by(failing[0])
        best = target
    return best, ENDED_TOP


C10K_COLUMNS = [
    *("variant", "loop", "broadcast_n", "broadcast_ended_by", "broadcast_p95_ms"),
    *("p99_n", "p99_ended_by", "p99_ms", "searched_to", "steps"),
]


def c10k_table(summary: pd.DataFrame, broadcasts: Mapping[str, Broadcasts]) -> pd.DataFrame:
    """Per strategy and loop, the ws-feed cells as a ladder of connections: the largest N at
    which BROADCAST_SHARE of broadcasts reached every subscriber within BROADCAST_SLO_MS
    (broadcast_n) and the largest with delivery p99 under DELIVERY_P99_MS (p99_n), each with
    why its search ended (ENDED_*) and the figure at that N; searched_to: the largest N
    tried. A step passes when every repeat held its connections and met the criterion; a
    ladder stops at its first failing step. Cells that never measured are left out."""
    if summary.empty or "scenario_name" not in summary or "connections_target" not in summary:
        return pd.DataFrame(columns=C10K_COLUMNS)
    feed = summary["scenario_name"].map(lambda s: workloads.live(str(s)) == workloads.LIVE_FEED)
    measured = summary["status"].isin(["ok", "invalid"]) & (summary["requests"] > 0)
    cells = summary[feed & measured & summary["connections_target"].notna()]
    rows = []
    for (variant, loop), series in cells.groupby(["variant", "loop"], sort=True):
        steps = [
            (float(target), list(group.itertuples(index=False)))
            for target, group in series.groupby("connections_target", sort=True)
        ]

        def by_broadcast(cell: Any) -> bool:
            b = broadcasts.get(str(cell.cell_id), NO_BROADCASTS)
            return bool(cell.valid) and _held(cell) and b.passes

        def by_p99(cell: Any) -> bool:
            p99 = float(getattr(cell, "delivery_p99_ms", cell.p99_ms))
            return bool(cell.valid) and _held(cell) and p99 < DELIVERY_P99_MS

        b_n, b_why = _largest(steps, by_broadcast)
        p_n, p_why = _largest(steps, by_p99)
        rows.append(
            {
                "variant": variant,
                "loop": loop,
                "broadcast_n": b_n,
                "broadcast_ended_by": b_why,
                "broadcast_p95_ms": _at(steps, b_n, lambda c: _p95(broadcasts, c)),
                "p99_n": p_n,
                "p99_ended_by": p_why,
                "p99_ms": _at(steps, p_n, lambda c: float(c.delivery_p99_ms)),
                "searched_to": steps[-1][0],
                "steps": len(steps),
            }
        )
    return pd.DataFrame(rows, columns=C10K_COLUMNS)


def _p95(broadcasts: Mapping[str, Broadcasts], cell: Any) -> float:
    return broadcasts.get(str(cell.cell_id), NO_BROADCASTS).p95_ms


def _at(steps: list[tuple[float, list[Any]]], n: float, figure: Any) -> float:
    """A figure of the step at N (the worst of its repeats); NaN where no step passed."""
    for target, cells in steps:
        if target == n:
            return max(figure(c) for c in cells)
    return math.nan
