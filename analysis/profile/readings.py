"""A profile in words: its layers in one line, its threads' time in one line, and the frames
that tell two profiles apart ("threadpool spends 22 % of its threads' time in
threading.Condition.wait (coroutine 0 %); coroutine 14 % in selectors.EpollSelector.select
(threadpool 2 %)")."""

from __future__ import annotations

import math
from collections.abc import Iterable

from analysis.profile.data import CPU_VIEW, CellProfile
from analysis.profile.frames import LAYERS
from analysis.profile.shares import Moved, by_label, layer_time
from record.profile import ProcessTime, ProfileRecord

# A layer below this share is left out of the one line (it would only be noise: "0 %").
SHOWN_LAYER = 0.005
# Two profiles are told apart by a frame only where their shares differ by this much (at a few
# hundred samples a point or two is noise).
APART = 0.02
# Two profiles are compared in a view only where each has this many samples in it: a frame's
# share of 50 is known within about 7 points, of fewer not well enough to name a difference.
MIN_SAMPLES = 50
# Below this share of its samples read, a profile says so (record/profile.py wall_errors).
WELL_READ = 0.95
# What each view's shares are of, as a sentence says it.
OF = {CPU_VIEW: "of its CPU", "wall": "of its threads' time"}


def pct(share: float) -> str:
    """A share as the report writes it: 0.4 % under 1 %, whole percents above."""
    if not math.isfinite(share):
        return "–"
    value = share * 100
    return f"{value:.1f} %" if value < 1 else f"{value:.0f} %"


def samples(profile: CellProfile, view: str) -> int:
    return sum(s.count for s in profile.view(view))


def layers_line(profile: CellProfile, view: str = CPU_VIEW) -> str:
    """'handler 78 %, Tornado HTTP 9 %, event loop 6 % (412 samples)' (layers in their fixed
    order; the count says how far to trust them)."""
    shares = layer_time(profile.view(view), profile.roots)
    parts = [f"{layer} {pct(shares[layer])}" for layer in LAYERS if shares[layer] >= SHOWN_LAYER]
    n = samples(profile, view)
    return f"{', '.join(parts)} ({n} samples)" if parts else "no samples"


def _sum(processes: Iterable[ProcessTime]) -> dict[str, float]:
    out = dict.fromkeys(("threads", "gil", "gil_wait", "running", "idle", "cpu"), 0.0)
    for p in processes:
        for key in out:
            value = getattr(p, key)
            out[key] += value if math.isfinite(value) else 0.0
    return out


def _threads(t: dict[str, float]) -> str:
    return (
        f"{t['gil']:.2f} holding the GIL, {t['gil_wait']:.2f} waiting for it, "
        f"{t['running']:.2f} running without it, {t['idle']:.2f} idle "
        f"(of {t['threads']:.1f} threads; {t['cpu']:.2f} cores of CPU)"
    )


def time_line(record: ProfileRecord) -> str:
    """The root process's threads, then the processes below it together (forked processes,
    a pool's workers), each: holding the GIL, waiting for it, running without it, idle."""
    if not record.ok:
        return f"no profile: {record.reason}"
    root = [p for p in record.processes if p.parent is None] or list(record.processes[:1])
    rest = [p for p in record.processes if p not in root]
    line = "threads: " + _threads(_sum(root))
    if rest:
        line += f"; {len(rest)} process(es) below it: " + _threads(_sum(rest))
    if record.read_share < WELL_READ:
        line += (
            f"; py-spy read {pct(record.read_share)} of its samples (a stack that changed "
            "while read is lost: shares are of those read)"
        )
    return line


def gil_wait(record: ProfileRecord) -> float:
    """Threads waiting for the GIL, every process together."""
    return _sum(record.processes)["gil_wait"] if record.ok else math.nan


def apart(a: str, pa: CellProfile, b: str, pb: CellProfile, view: str = CPU_VIEW) -> str:
    """The frame each of two profiles spends most more time in than the other, with the
    other's share beside it; '' when neither stands out (MIN_MOVE)."""
    if min(samples(pa, view), samples(pb, view)) < MIN_SAMPLES:
        return ""  # a server that hardly ran: its few samples tell nothing apart
    sa, sb = by_label(pa.view(view), pa.roots), by_label(pb.view(view), pb.roots)
    parts = []
    for me, mine, other, theirs in ((a, sa, b, sb), (b, sb, a, sa)):
        frame, gap = max(
            ((k, v - theirs.get(k, 0.0)) for k, v in mine.items()),
            key=lambda kv: (kv[1], kv[0]),
            default=("", 0.0),
        )
        if gap >= APART:
            share, across = pct(mine[frame]), pct(theirs.get(frame, 0.0))
            parts.append((me, frame, share, other, across))
    if not parts:
        return ""
    (me, frame, share, other, across), *more = parts
    line = f"{me} spends {share} {OF[view]} in {frame} ({other} {across})"
    for me, frame, share, other, across in more:
        line += f"; {me} {share} in {frame} ({other} {across})"
    return line


def moved_text(frames: list[Moved]) -> str:
    """'catalog.payloads.cpu_work 62 % → 80 % (+18 pts), ...'."""
    return ", ".join(
        f"{m.label} {pct(m.before)} → {pct(m.after)} ({m.change * 100:+.0f} pts)" for m in frames
    )
