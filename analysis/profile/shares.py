"""Shares of a profile's samples: by frame (self time: the leaf of each sample), by layer, and
what moved between two profiles."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from analysis.profile.frames import LAYERS, name
from record.stacks import Stack

# Frames that moved by less than this share (1 point) are noise at a few hundred samples.
MIN_MOVE = 0.01


@dataclass(frozen=True)
class Share:
    """A frame's self time: samples whose leaf it was, and their share of the view's."""

    label: str
    layer: str
    samples: int
    share: float


def self_time(stacks: Iterable[Stack], roots: tuple[str, ...] = ()) -> list[Share]:
    """Every frame by self time, largest first (ties by label, for a stable order)."""
    counts: dict[str, int] = {}
    layers: dict[str, str] = {}
    for s in stacks:
        named = name(s.leaf, roots)
        counts[named.label] = counts.get(named.label, 0) + s.count
        layers[named.label] = named.layer
    total = sum(counts.values())
    out = [Share(k, layers[k], n, n / total) for k, n in counts.items() if total]
    return sorted(out, key=lambda x: (-x.samples, x.label))


def by_label(stacks: Iterable[Stack], roots: tuple[str, ...] = ()) -> dict[str, float]:
    return {s.label: s.share for s in self_time(stacks, roots)}


def layer_time(stacks: Iterable[Stack], roots: tuple[str, ...] = ()) -> dict[str, float]:
    """Each layer's share of self time (every layer present, zero when none)."""
    out = dict.fromkeys(LAYERS, 0.0)
    for s in self_time(stacks, roots):
        out[s.layer] += s.share
    return out


@dataclass(frozen=True)
class Moved:
    """A frame's share in two profiles."""

    label: str
    before: float
    after: float

    @property
    def change(self) -> float:
        return self.after - self.before


def moved(
    before: dict[str, float], after: dict[str, float], n: int = 3, least: float = MIN_MOVE
) -> list[Moved]:
    """The n frames whose share moved most (by at least `least`), largest move first."""
    out = [
        Moved(k, before.get(k, 0.0), after.get(k, 0.0))
        for k in set(before) | set(after)
        if abs(after.get(k, 0.0) - before.get(k, 0.0)) >= least
    ]
    return sorted(out, key=lambda m: (-abs(m.change), m.label))[:n]
