"""What the open-loop cells say, in sentences with their numbers: which strategies fell behind
at which offered rate (and how far corrected latency grew beyond service latency there), cells
where the generator rather than the server fell behind, and the highest rate each strategy
sustained under the SLO. Pure functions of the summary, like summary.py."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from analysis.openloop import open_cells, reached, slo_ranking
from analysis.readings.words import family, format_ms, format_rate

# The generator, not the server, fell behind: the server had room (utilisation below this)
# and still the requests' corrected p99 is far above their service p99 (both of these).
GENERATOR_UTILISATION = 0.7
GENERATOR_RATIO = 2.0
GENERATOR_MARGIN_MS = 20.0
NO_OPEN = "No open-loop cell."
SLO_COLUMNS = [*("scenario", "loop", "variant", "max_rate", "p99_corrected_ms"), "capacity_rps"]


def open_families(summary: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """(scenario, loop) → its measured open-loop cells, sorted: one chart panel each."""
    cells = open_cells(summary)
    cells = cells[cells["requests"] > 0]
    return {key: group for key, group in cells.groupby(["scenario", "loop"], sort=True)}


def _by_rate(cells: pd.DataFrame) -> pd.DataFrame:
    """Per variant and offered rate, the mean of its repeats (valid cells only)."""
    valid = cells[cells["valid"].astype(bool)]
    cols = ["achieved_rps", "p99_corrected_ms", "p99_ms", "capacity_rps", "utilisation"]
    cols.append("late_pct")
    return valid.groupby(["variant", "offered_rps"], as_index=False)[cols].mean()


def _behind_text(row: Any, first: bool) -> str:
    """'sync fell behind at 200 req/s (4.0× its capacity of 50, achieved 46): corrected p99
    2,950 ms vs 1,130 ms service'."""
    where = (
        f"{row.variant} {'fell behind ' if first else ''}at {format_rate(row.offered_rps)} req/s"
    )
    facts = []
    if pd.notna(row.capacity_rps) and row.capacity_rps > 0:
        facts.append(f"{row.utilisation:.1f}× its capacity of {format_rate(row.capacity_rps)}")
    facts.append(f"achieved {format_rate(row.achieved_rps)}")
    # Where the requests waited: for their send (late: corrected above service), or, sent
    # on time, in the server itself (corrected equal to service).
    late = row.late_pct if pd.notna(row.late_pct) else math.nan
    why = f"{late:.0f}% sent late" if late >= 1 else "sent on time: the wait was in the server"
    return (
        f"{where} ({', '.join(facts)}): corrected p99 {format_ms(row.p99_corrected_ms)} ms vs "
        f"{format_ms(row.p99_ms)} ms service ({why})"
    )


def _family_behind(name: str, fam: pd.DataFrame) -> str:
    """Each strategy's lowest offered rate it fell behind at, or that every one kept up."""
    means = _by_rate(fam)
    if means.empty:
        return f"{name}: no valid open-loop cell"
    behind = means[
        [
            not reached(a, o)
            for a, o in zip(means["achieved_rps"], means["offered_rps"], strict=True)
        ]
    ]
    firsts = behind.sort_values("offered_rps").groupby("variant", sort=False).head(1)
    top = format_rate(means["offered_rps"].max())
    if firsts.empty:
        return f"{name}: every strategy kept up with every offered rate (up to {top} req/s)"
    parts = [_behind_text(r, i == 0) for i, r in enumerate(firsts.itertuples())]
    kept = sorted(set(means["variant"]) - set(firsts["variant"]))
    tail = f"; {', '.join(kept)} kept up with every rate (up to {top} req/s)" if kept else ""
    return f"{name}: " + "; ".join(parts) + tail


def generator_pointers(summary: pd.DataFrame) -> list[str]:
    """Cells whose server had room (utilisation < GENERATOR_UTILISATION) but whose corrected
    p99 is far above the service p99: requests left late because the load generator could
    not keep to its schedule, so the figures measure the generator."""
    cells = open_cells(summary)
    cells = cells[cells["requests"] > 0]
    far = (
        (cells["utilisation"] < GENERATOR_UTILISATION)
        & (cells["p99_corrected_ms"] > GENERATOR_RATIO * cells["p99_ms"])
        & (cells["p99_corrected_ms"] > cells["p99_ms"] + GENERATOR_MARGIN_MS)
    )
    loops = summary["loop"].nunique()
    out = []
    for row in cells[far].sort_values(["scenario", "loop", "offered_rps"]).itertuples():
        at = f"{format_rate(row.offered_rps)} req/s"
        gen = getattr(row, "loadgen_core_pct", math.nan)
        cpu = f" (its cores were at {gen:.0f}%)" if pd.notna(gen) else ""
        out.append(
            f"{row.variant} on {family(row.scenario, row.loop, loops)} at {at} "
            f"({row.utilisation:.2f}× its capacity): corrected p99 {format_ms(row.p99_corrected_ms)} ms vs "
            f"{format_ms(row.p99_ms)} ms service. The generator, not the server, fell behind at "
            f"{at}: check generator CPU{cpu}."
        )
    return out


def read_openloop(summary: pd.DataFrame) -> str:
    """Under the open-loop chart: per scenario, who fell behind where, then any cell where
    the generator fell behind."""
    families = open_families(summary)
    if not families:
        return NO_OPEN
    loops = summary["loop"].nunique()
    parts = [_family_behind(family(s, lo, loops), fam) for (s, lo), fam in families.items()]
    text = "; ".join(parts) + "."
    pointers = generator_pointers(summary)
    return text + (" " + " ".join(pointers) if pointers else "")


def _missed(cells: pd.DataFrame, limit: float) -> str:
    """Why the cells of one offered rate did not count as sustained."""
    valid = cells[cells["valid"].astype(bool)]
    if valid.empty:
        return str(cells["status"].iloc[0])
    achieved, offered = valid["achieved_rps"].mean(), valid["offered_rps"].iloc[0]
    if not reached(achieved, offered):
        return f"fell behind, {format_rate(achieved)} achieved"
    p99c = valid["p99_corrected_ms"].mean()
    return f"p99 corr. {format_ms(p99c)} ms" if math.isfinite(limit) else "–"


def sustained(summary: pd.DataFrame, slo_ms: float | None) -> pd.DataFrame:
    """openloop.slo_ranking (no SLO: the highest rate each strategy kept up with, whatever
    its latency), with `missed`: the next rate the strategy was offered above it and why
    that one did not count. Only the offered rates are tried, so the strategy's real limit
    lies between the two."""
    limit = math.inf if slo_ms is None else float(slo_ms)
    ranked = slo_ranking(summary, limit)
    cells = open_cells(summary)
    missed = []
    for row in ranked.itertuples():
        mine = cells[
            (cells["scenario"] == row.scenario)
            & (cells["loop"] == row.loop)
            & (cells["variant"] == row.variant)
            & (cells["offered_rps"] > row.max_rate)
        ]
        if mine.empty:
            missed.append("")
            continue
        nxt = mine["offered_rps"].min()
        missed.append(f"{format_rate(nxt)} ({_missed(mine[mine['offered_rps'] == nxt], limit)})")
    return ranked.assign(missed=missed)


def sustained_sentences(
    table: pd.DataFrame, summary: pd.DataFrame, slo_ms: float | None
) -> list[str]:
    """One sentence per scenario naming the best: 'sleep-ms20: coroutine sustained 800 req/s
    with corrected p99 under 100 ms (the highest rate offered: it may sustain more);
    threadpool 200; sync 40.'"""
    cond = (
        f"with corrected p99 under {format_ms(slo_ms)} ms"
        if slo_ms is not None
        else "without falling behind"
    )
    loops = table["loop"].nunique()
    offered = open_cells(summary).groupby(["scenario", "loop"])["offered_rps"].max()
    out = []
    for (scenario, loop), group in table.groupby(["scenario", "loop"], sort=True):
        name = family(scenario, loop, loops)
        group = group.sort_values("max_rate", ascending=False, kind="stable")
        best = group.iloc[0]
        if not best["max_rate"] > 0:
            out.append(f"{name}: no strategy sustained any offered rate {cond}.")
            continue
        text = f"{name}: {best['variant']} sustained {format_rate(best['max_rate'])} req/s {cond}"
        if best["max_rate"] >= offered.get((scenario, loop), math.inf):
            text += " (the highest rate offered: it may sustain more)"
        rest = [
            f"{r.variant} {format_rate(r.max_rate) if r.max_rate > 0 else 'none of the rates offered'}"
            for r in group.iloc[1:].itertuples()
        ]
        out.append(text + "".join(f"; {r}" for r in rest) + ".")
    return out
