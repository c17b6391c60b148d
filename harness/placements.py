"""Which CPU cores the server under test gets and which the load generator gets."""

from __future__ import annotations

import os

from record.records import Placement

PLACEMENTS = ("split", "shared")


def choose(mode: str) -> Placement:
    """split: the load generator (and the backend, which is environment too) on the last core,
    the server alone on the others, so the server's cores stay its own; shared: every process
    on every core. With one core, split falls back to shared."""
    cpus = tuple(sorted(os.sched_getaffinity(0)))
    if mode == "split" and len(cpus) >= 2:
        return Placement("split", cpus[:-1], cpus[-1:])
    return Placement("shared", cpus, cpus)
