"""Cells of the long-lived scenarios (ws-echo, ws-feed, poll): each user holds one connection,
so the cell's user count is its `connections`; they open at `spawn_rate` per second and the
measured window starts after that ramp. (A suite asking for more connections than this
machine's limits allow is refused when it is read: harness/suite/limits.py.)"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from catalog import workloads
from catalog.fdlimit import raise_nofile
from catalog.health import Health
from catalog.workloads import WORKLOADS
from harness.processes.health import HealthPoller
from record import io
from record.connections import ConnectionFigures
from record.layout import CellLayout
from record.loadgen_summary import read_summary
from record.records import CellSpec
from record.window import Window


def prepare() -> int:
    """Raise the harness's own open-file limit (servers and Locust inherit it); the limit."""
    return raise_nofile()


# --- what a cell held: the servers' /health counts, memory, the handshakes -------------------

# A /health that takes longer is skipped: a blocking strategy may hold it behind a long-poll,
# and a server writing to 10,000 sockets on a busy machine answers in seconds, not ms.
POLL_TIMEOUT_S = 3.0
LIVE_COLUMNS = ("t", "pid", "websockets", "polls_waiting", "polls_waiting_max", "messages_sent")
Reading = tuple[float, int, int, int, int, int]
MB = 1024 * 1024
# What a record is, by its name's suffix (loadgen/users.py, the documented users' records; the
# built-in scenarios name their handshakes the same way).
CONNECT, CLOSE, DELIVER, POLL = ":connect", ":close", ":deliver", ":poll"


@dataclass
class ConnectionsPoller:
    """A row of connections.csv per /health answer that carries live counts. A forking
    server answers from one process at a time (each with its own counts and pid), so the
    server's count at a moment is the sum of each process's latest reading."""

    health_url: str
    rows: list[Reading] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._poller = HealthPoller(self.health_url, self._take, POLL_TIMEOUT_S)

    def _take(self, at: float, health: Health) -> None:
        live = health.live
        if live is not None:
            self.rows.append(
                (
                    at,
                    health.pid,
                    live.websockets,
                    live.polls_waiting,
                    live.polls_waiting_max,
                    live.messages_sent,
                )
            )

    def start(self) -> None:
        self._poller.start()

    def stop(self) -> list[Reading]:
        self._poller.stop()
        return list(self.rows)


def _state(rows: Sequence[Reading], until: float, column: int) -> float:
    """The server's count at `until`: each process's latest reading at or before it, summed."""
    latest: dict[int, Reading] = {}
    for row in rows:
        if row[0] <= until:
            latest[row[1]] = row
    return float(sum(r[column] for r in latest.values())) if latest else math.nan


def held(rows: Sequence[Reading], window: Window, scenario: str) -> tuple[float, float, float]:
    """(at the window's start, at its end, polls waiting at most) from the readings. For poll
    the first two are the most polls the server held waiting at once by its own high-water
    mark (a reading's instant count swings with every event: all are answered, then return)."""
    inside = [r for r in rows if window.start <= r[0] <= window.end]
    wait_max = max((_state(rows, r[0], 4) for r in rows), default=math.nan)
    if workloads.live(scenario) == workloads.LIVE_POLL:
        return wait_max, wait_max, wait_max
    if not inside:
        return math.nan, math.nan, wait_max
    return _edge(rows, window, first=True), _edge(rows, window, first=False), wait_max


def _edge(rows: Sequence[Reading], window: Window, *, first: bool) -> float:
    """Open WebSockets at the window's start (each process's first reading inside the window)
    or end (its last). A forking server answers /health from one process at a time: summing
    each process's latest reading at the window's first reading took another process's from
    the ramp (a 2-process server read 536 of its 1,000 at the start)."""
    per_pid: dict[int, Reading] = {}
    for row in rows:
        if window.start <= row[0] <= window.end:
            if not first or row[1] not in per_pid or per_pid[row[1]][0] < window.start:
                per_pid[row[1]] = row
        elif row[0] < window.start and (row[1] not in per_pid):
            per_pid[row[1]] = row  # a process not read inside: its latest before
        elif row[0] < window.start and per_pid[row[1]][0] < window.start:
            per_pid[row[1]] = row
    return float(sum(r[2] for r in per_pid.values()))


def tree_rss_mb(
    samples: pd.DataFrame, role: str, window: Window, before: float
) -> tuple[float, float]:
    """(resident MB of a role's processes at the last sample before `before`, the first
    connection: started and idle; their median over the window), summed over the processes
    of each sample. NaN where no sample fell there."""
    mine = samples[samples["role"] == role]
    if mine.empty:
        return math.nan, math.nan
    per_t = mine.groupby("t")["rss_bytes"].sum().sort_index()
    idle = per_t[per_t.index < before]
    start = float(idle.iloc[-1]) / MB if len(idle) else math.nan
    during = per_t[(per_t.index >= window.start) & (per_t.index <= window.end)]
    return start, float(during.median()) / MB if len(during) else math.nan


def handshakes(cell_dir: Path) -> pd.DataFrame:
    """Every connect record of the cell, in the window or outside it."""
    frames = []
    layout = CellLayout(cell_dir)
    for path in (layout.requests, layout.outside):
        if path.exists():
            frames.append(pd.read_parquet(path, columns=["start", "endpoint", "latency_ms", "ok"]))
    if not frames:
        return pd.DataFrame(columns=["start", "endpoint", "latency_ms", "ok"])
    both = pd.concat(frames, ignore_index=True)
    return both[both["endpoint"].astype(str).str.endswith(CONNECT)]


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def figures(
    cell: CellSpec,
    cell_dir: Path,
    window: Window,
    rows: Sequence[Reading],
    samples: pd.DataFrame,
    idle_rss: dict[str, int] | None = None,
) -> ConnectionFigures:
    """What a long-lived cell held, what it cost in memory, and how its handshakes went.
    idle_rss: the sampler's first look at each role (harness/processes/sampler.py), taken as Locust
    starts and before it connects; it stands in for "before the first connection" when no
    recorded sample fell between that look and the first handshake."""
    shakes = handshakes(cell_dir)
    first_connect = float(shakes["start"].min()) if len(shakes) else window.start
    ok = shakes[shakes["ok"].astype(bool)]
    start, end, wait_max = held(rows, window, cell.scenario)
    memory = _memory(cell_dir, window, samples, first_connect, idle_rss)
    return ConnectionFigures(
        target=cell.params["connections"],
        held_start=start,
        held_end=end,
        polls_waiting_max=wait_max,
        connects=len(shakes),
        connect_failures=int(len(shakes) - len(ok)),
        connect_p99_ms=nearest_rank([float(x) for x in ok["latency_ms"]], 0.99),
        **memory,
        health_readings=len(rows),
    )


def _memory(
    cell_dir: Path,
    window: Window,
    samples: pd.DataFrame,
    first_connect: float,
    idle_rss: dict[str, int] | None,
) -> dict[str, float]:
    """The server's and the load side's resident MB before the first connection and with the
    connections held (ConnectionFigures' *_rss_* fields)."""
    server_before, server_held = tree_rss_mb(samples, "server", window, first_connect)
    locust_before, locust_held = tree_rss_mb(samples, "locust", window, first_connect)
    idle = idle_rss or {}
    if math.isnan(server_before) and "server" in idle:
        server_before = idle["server"] / MB
    if math.isnan(locust_before) and "locust" in idle:
        locust_before = idle["locust"] / MB
    # The Locust side's own readings, when it gave them, are taken after its imports (the
    # sampler's first look is before them): loadgen/cpu.py.
    summary = read_summary(cell_dir)
    if summary is not None and summary.rss_held_bytes is not None:
        locust_before = sum(w.rss_load_start_bytes or 0.0 for w in summary.workers) / MB
        locust_held = sum(w.rss_window_bytes or 0.0 for w in summary.workers) / MB
    return {
        "server_rss_before_mb": server_before,
        "server_rss_mb": server_held,
        "locust_rss_before_mb": locust_before,
        "locust_rss_mb": locust_held,
    }


def _records(cell_dir: Path) -> pd.DataFrame:
    """Every record of the cell, in the window or outside it, with `inside` marking the
    window's (the harness already split them: record/stream.py)."""
    layout, frames = CellLayout(cell_dir), []
    for path, inside in ((layout.requests, True), (layout.outside, False)):
        if path.exists():
            frame = pd.read_parquet(path, columns=["start", "endpoint", "latency_ms", "ok"])
            frames.append(frame.assign(inside=inside))
    if not frames:
        return pd.DataFrame(columns=["start", "endpoint", "latency_ms", "ok", "inside"])
    return pd.concat(frames, ignore_index=True)


def most_at_once(starts: np.ndarray, ends: np.ndarray) -> float:
    """The most intervals [start, end) open at one instant (NaN for none): a sweep over
    their edges, an end before a start at the same instant."""
    if not len(starts):
        return math.nan
    times = np.concatenate([ends, starts])
    steps = np.concatenate([-np.ones(len(ends)), np.ones(len(starts))])
    order = np.lexsort((steps, times))
    return float(np.cumsum(steps[order]).max())


def _open_at(connects: pd.DataFrame, closes: pd.DataFrame, t: float) -> float:
    """Connections open at `t` by the client's own records: handshakes completed by then,
    less the connections the server or the network ended by then."""
    done = connects["start"] + connects["latency_ms"] / 1000.0
    return float((done <= t).sum() - (closes["start"] <= t).sum())


def from_records(
    cell: CellSpec,
    cell_dir: Path,
    window: Window,
    samples: pd.DataFrame,
    idle_rss: dict[str, int] | None = None,
) -> ConnectionFigures | None:
    """The connection figures of a cell that is not a built-in long-lived scenario (a user's
    file on loadgen/users.py, against any server), read from its records alone: no server
    reports its counts here. Connections held at the window's start and end are the client's
    (handshakes done, less connections ended by the other side); polls waiting at once are the
    most `:poll` records in flight at one instant (a cell of polls alone holds no count of
    connections: NaN); deliveries are the window's `:deliver` records. None for a cell with no
    connect or poll record."""
    records = _records(cell_dir)
    names = records["endpoint"].astype(str)
    shakes = records[names.str.endswith(CONNECT)]
    polls = records[names.str.endswith(POLL)]
    if shakes.empty and polls.empty:
        return None
    ok = shakes[shakes["ok"].astype(bool)]
    closes = records[names.str.endswith(CLOSE)]
    poll_start = polls["start"].to_numpy(float)
    waiting = most_at_once(poll_start, poll_start + polls["latency_ms"].to_numpy(float) / 1000)
    if len(shakes):
        start, end = _open_at(ok, closes, window.start), _open_at(ok, closes, window.end)
    else:  # polls only: which users hold them (a file may mix in posters) is not in the
        start = end = math.nan  # records; the most waiting at once is polls_waiting_max
    deliveries = records[names.str.endswith(DELIVER) & records["inside"]]
    delivered = deliveries[deliveries["ok"].astype(bool)]["latency_ms"].astype(float).tolist()
    first = float(shakes["start"].min()) if len(shakes) else float(records["start"].min())
    memory = _memory(cell_dir, window, samples, first, idle_rss)
    return ConnectionFigures(
        target=cell.users,
        held_start=start,
        held_end=end,
        polls_waiting_max=waiting,
        connects=len(shakes),
        connect_failures=int(len(shakes) - len(ok)),
        connect_p99_ms=nearest_rank([float(x) for x in ok["latency_ms"]], 0.99),
        **memory,
        health_readings=0,
        delivery_p50_ms=nearest_rank(delivered, 0.50) if delivered else None,
        delivery_p99_ms=nearest_rank(delivered, 0.99) if delivered else None,
    )


def write_readings(cell_dir: Path, rows: Sequence[Reading]) -> None:
    """connections.csv: every /health reading of the cell, in the order read."""
    lines = [",".join(LIVE_COLUMNS)] + [
        ",".join(f"{v:.3f}" if i == 0 else str(v) for i, v in enumerate(r)) for r in rows
    ]
    io.write_text(CellLayout(cell_dir).connections_csv, "\n".join(lines) + "\n")


def is_live(cell: CellSpec, user_file: bool) -> bool:
    spec = WORKLOADS.get(cell.scenario)
    return spec is not None and bool(spec.live) and not user_file
