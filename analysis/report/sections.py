"""report.html's sections, in the page's order, as plain data for its template: each one's
title, note, table, figures, sentences and anchor, read from the run's summary, ranking,
endpoints, charts and records. What each section says is decided here; analysis/report/page.py
builds the files and renders the page."""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from analysis import aggregate, thresholds
from analysis.connections import c10k_table, feed_broadcasts
from analysis.endpoints import unmatched_headlines
from analysis.figures.charts import Chart
from analysis.figures.interactive import InteractiveChart
from analysis.load import RunData
from analysis.openloop import closed_cells, open_cells
from analysis.readings import words
from analysis.readings.connections import C10K_NOTE, c10k_display, read_c10k
from analysis.readings.ipc import ipc_items
from analysis.readings.openloop import generator_pointers, sustained, sustained_sentences
from analysis.readings.stability import stability_items
from analysis.readings.summary import read_ranking
from analysis.readings.upload import UPLOAD_NOTE, upload_items
from analysis.report import endpoints as endpoint_section
from analysis.report import environments, techempower
from analysis.report import profiles as profile_section
from analysis.report.load_generator import WORKERS_NOTE, workers_table
from analysis.report.tables import (
    Table,
    cells_table,
    html_table,
    ranking_table,
    repeats_table,
    sustained_table,
)
from record.records import Placement
from record.run_meta import EnvironmentInfo

CHARTS_DIR = "charts"  # beside report.html: the PNGs and SVGs the page links
TE_CHART = "techempower"  # drawn in the TechEmpower section, not among the other charts
CELLS_NOTE = (
    "Percentiles are exact (nearest rank) over the raw latencies of successful requests that "
    "completed inside the measured window; warm-up excluded. bound = the model's upper bound "
    "on req/s; eff = req/s ÷ bound."
)
REPEATS_NOTE = (
    "Mean and 95% confidence half-width (Student t) across repeats of valid cells; unstable = "
    "coefficient of variation of req/s above 10%."
)

SUSTAINED_NOTE = (
    "A rate counts as sustained when its cell is valid, achieved at least 95% of it and kept "
    "its corrected p99 (from each request's intended send time, as wrk2 reports it) within "
    "{slo} ms. Only the offered rates were tried: a strategy's real limit lies between its "
    "max rate and the next rate it was offered."
)
NO_SLO_NOTE = (
    "No SLO was set. Set slo_ms in the suite (for example slo_ms = 100) to rank the "
    "strategies by the highest offered rate each sustains with corrected p99 under it; until "
    "then, the highest rate each kept up with (valid, at least 95% of it achieved), whatever "
    "its latency."
)
IPC_NOTE = (
    "A process pool sends each call and its result through a pipe, pickled both ways: CPU "
    "the other strategies do not spend. The model adds it to the pool's S, so its /cpu bound "
    "is min(users, workers, cores) / (S + round trip)."
)
OPEN_RANKED = "Open-loop workloads are ranked by the rate each strategy sustained: see below."

STABILITY_NOTE = (
    "The 95% interval of req/s comes from a block bootstrap over the window's seconds, or from "
    "the repeats when a configuration has several valid ones."
)


@dataclass(frozen=True)
class Figure:
    """A chart as the page shows it. An interactive one is drawn by the page's script from
    the data embedded in it, its PNG linked (and shown inside <noscript>); any other has its
    PNG inline as base64, so the page stands alone."""

    name: str
    title: str
    reading: str
    data: str  # the PNG as base64; "" for an interactive chart
    interactive: bool = False
    rows: int = 1  # rows of panels the interactive chart will take: its room before it is drawn

    @property
    def png(self) -> str:
        """The PNG beside report.html, as a link relative to it."""
        return f"{CHARTS_DIR}/{self.name}.png"

    @property
    def svg(self) -> str:
        return f"{CHARTS_DIR}/{self.name}.svg"

    @classmethod
    def of(cls, chart: Chart, drawn: InteractiveChart | None = None) -> Figure:
        if drawn is not None:
            rows = math.ceil(len(drawn.panels) / drawn.columns)
            return cls(chart.name, chart.title, chart.reading, "", True, rows)
        return cls(chart.name, chart.title, chart.reading, base64.b64encode(chart.png).decode())


@dataclass(frozen=True)
class Section:
    """One h2 section of the page; the template shows the parts that are set, in this order."""

    title: str
    note: str = ""
    table: Table | None = None
    figures: list[Figure] = field(default_factory=list)
    text: str = ""
    items: list[str] = field(default_factory=list)  # a short bulleted note
    anchor: str = ""  # the section's id, the table of contents' link to it (_anchored)
    # The profiles' flame graphs and frames (analysis/report/profiles.py, templates/profiles.html).
    profiles: profile_section.ProfilesView | None = None


def _anchored(sections: list[Section]) -> list[Section]:
    """Each section with a unique id from its title ('Every cell' → 'every-cell')."""
    out, seen = [], set()
    for section in sections:
        base = re.sub(r"[^a-z0-9]+", "-", section.title.lower()).strip("-") or "section"
        anchor, n = base, 1
        while anchor in seen:
            n += 1
            anchor = f"{base}-{n}"
        seen.add(anchor)
        out.append(replace(section, anchor=anchor))
    return out


def _endpoints_section(run: RunData, table: pd.DataFrame) -> Section | None:
    """The cells of several endpoints, or with a headline, from the run's endpoints.csv
    table (as the report wrote it); None when no cell has any."""
    table = table.assign(request_type=table["request_type"].fillna(""))
    headlined = {cid for cid, record in run.records.items() if record.settings.headline}
    rows = endpoint_section.shown(table, headlined)
    items = unmatched_headlines(run, table)
    if rows.empty and not items:
        return None
    return Section(
        "Endpoints",
        note=endpoint_section.NOTE,
        table=endpoint_section.endpoints_table(rows) if len(rows) else None,
        items=items,
    )


def page_sections(
    run: RunData,
    summary: pd.DataFrame,
    ranking: pd.DataFrame,
    endpoints: pd.DataFrame,
    charts: list[Chart],
    drawn: Mapping[str, InteractiveChart],
    verdicts: list[thresholds.ThresholdVerdict],
) -> list[Section]:
    """The page's sections in order, each with its anchor. `endpoints`: the run's
    endpoints.csv table; `drawn`: the charts the page draws itself (by name)."""
    sections = []
    closed, opened = closed_cells(summary), open_cells(summary)
    if len(closed) or opened.empty:  # a run all open-loop has no req/s ranking to show
        sections.append(_ranking_section(run, ranking, has_open=len(opened) > 0))
    if len(opened):
        sections.append(_sustained_section(summary, _slo_ms(run)))
    sections += _techempower_sections(summary, _slo_ms(run), charts)
    c10k = _c10k_section(run, summary)
    if c10k is not None:
        sections.append(c10k)
    if run.run.environments:
        sections.append(_environments_section(run, summary))
    by_endpoint = _endpoints_section(run, endpoints)
    if by_endpoint is not None:
        sections.append(by_endpoint)
    if verdicts:
        items = [v.line for v in verdicts]
        sections.append(Section("Thresholds", note=thresholds.NOTE, items=items))
    round_trips = ipc_items(closed)
    if round_trips:
        sections.append(Section("Process pool round trip", note=IPC_NOTE, items=round_trips))
    uploads = upload_items(summary)
    if uploads:
        sections.append(Section("Upload memory", note=UPLOAD_NOTE, items=uploads))
    shown = [Figure.of(chart, drawn.get(chart.name)) for chart in charts if chart.name != TE_CHART]
    sections.append(Section("Charts", figures=shown))
    profiled = profile_section.view(run, summary)
    if profiled is not None:
        sections.append(_profiles_section(profiled))
    stability = _stability_section(run, closed)
    if stability is not None:
        sections.append(stability)
    sections += [
        Section(
            "Every cell",
            note=CELLS_NOTE,
            table=cells_table(summary) if len(summary) else None,
        ),
    ]
    repeats = _repeats(summary)
    if len(repeats) and (repeats["repeats"] > 1).any():
        sections.append(Section("Repeats", note=REPEATS_NOTE, table=repeats_table(repeats)))
    workers = workers_table(run.records, list(summary.get("cell_id", [])))
    if workers is not None:
        sections.append(Section("Load generator workers", note=WORKERS_NOTE, table=workers))
    environment = pd.DataFrame(_environment(run), columns=["what", "value"])
    sections.append(Section("Environment", table=html_table(environment, left={"what", "value"})))
    return _anchored(sections)


def _ranking_section(run: RunData, ranking: pd.DataFrame, *, has_open: bool) -> Section:
    """The ranking of closed-loop cells by req/s, its sentence and the run's placement."""
    text = read_ranking(ranking) + (f" {OPEN_RANKED}" if has_open else "")
    # Every figure of a run had one placement: the reader must know whether the server had
    # cores of its own (split) or shared them with the load generator (shared).
    if run.run.placement is not None:
        text += f" Measured with placement {_placement_text(run.run.placement)}."
    return Section(
        "Which strategy for which work",
        table=ranking_table(ranking) if len(ranking) else None,
        text=text,
    )


def _stability_section(run: RunData, closed: pd.DataFrame) -> Section | None:
    """Each closed-loop cell's stability (an open-loop cell's req/s is set by its offered
    rate) and whether the suite's target interval was reached; None when there is nothing."""
    shares = {cell_id: record.server_shares for cell_id, record in run.records.items()}
    stability = stability_items(closed, shares)
    target = run.run.settings.target_ci_pct
    if target is not None and run.run.unmet_targets:
        stability.append(
            f"Still wider than the target (±{target:g} % of req/s) after "
            f"{run.run.settings.max_repeats} repeats: " + ", ".join(run.run.unmet_targets)
        )
    elif target is not None and run.run.status == "complete":
        stability.append(f"Every configuration reached the target interval (±{target:g} %).")
    return Section("Stability", note=STABILITY_NOTE, items=stability) if stability else None


def _profiles_section(profiled: profile_section.ProfilesView) -> Section:
    return Section(
        profile_section.TITLE,
        note=profile_section.NOTE,
        table=profiled.table,
        items=profiled.items,
        profiles=profiled,
    )


def _environments_section(run: RunData, summary: pd.DataFrame) -> Section:
    rows = environments.table_rows(summary)
    frame = pd.DataFrame(
        rows, columns=["configuration", "environment", "req/s [95% CI]", "p99", "repeats"]
    )
    return Section(
        "Environments",
        note=environments.NOTE,
        table=html_table(frame, left={"configuration", "environment"}) if rows else None,
        items=environments.readings(summary, run.run.environments),
    )


def _techempower_sections(
    summary: pd.DataFrame, slo_ms: float | None, charts: list[Chart]
) -> list[Section]:
    """ "TechEmpower test types" with its chart, then one table per type (none without
    TechEmpower cells)."""
    tables = techempower.type_tables(summary, slo_ms)
    if not tables:
        return []
    figures = [Figure.of(chart) for chart in charts if chart.name == TE_CHART]
    head = Section("TechEmpower test types", note=techempower.NOTE, figures=figures)
    return [head, *(Section(t.title, table=t.table, items=t.items) for t in tables)]


def _c10k_section(run: RunData, summary: pd.DataFrame) -> Section | None:
    """The C10K table (analysis/connections.py), for a run with a ladder of feed cells."""
    table = c10k_table(summary, feed_broadcasts(run))
    if table.empty or not (table["steps"] > 1).any():
        return None
    shown = c10k_display(table)
    left = {"strategy", "loop", "ended by", "ended by "}
    return Section(
        "C10K: subscribers served in time",
        note=C10K_NOTE,
        table=html_table(shown, left=left),
        text=read_c10k(table),
    )


def _slo_ms(run: RunData) -> float | None:
    return run.run.settings.slo_ms


def _sustained_section(summary: pd.DataFrame, slo_ms: float | None) -> Section:
    """The open-loop ranking: the highest offered rate each strategy sustained (under the
    SLO when the suite set one), a sentence per scenario, and any cell where the generator,
    not the server, fell behind (its figures would mislead the ranking)."""
    frame = sustained(summary, slo_ms)
    items = sustained_sentences(frame, summary, slo_ms)
    items += [f"Caution: {p}" for p in generator_pointers(summary)]
    if slo_ms is None:
        title, note = "Highest offered rate each strategy kept up with", NO_SLO_NOTE
    else:
        slo = words.format_ms(slo_ms)
        title, note = f"Sustained rate under the SLO ({slo} ms)", SUSTAINED_NOTE.format(slo=slo)
    return Section(title, note=note, table=sustained_table(frame, slo_ms), items=items)


def _repeats(summary: pd.DataFrame) -> pd.DataFrame:
    """Repeats of each configuration: closed-loop cells per users, open-loop cells per
    offered rate (every rate shares one users figure, its cap on requests in flight). The
    load level reads '10 users' or '200 req/s offered'."""
    if summary.empty:
        return pd.DataFrame()
    keys = ["variant", "loop", "scenario"]
    closed = aggregate.repeat_groups(closed_cells(summary), [*keys, "users"])
    opened = aggregate.repeat_groups(open_cells(summary), [*keys, "offered_rps"])
    parts = []
    if len(closed):
        parts.append(_with_load(closed, "users", lambda v: f"{int(v)} users"))
    if len(opened):
        parts.append(
            _with_load(opened, "offered_rps", lambda v: f"{words.format_rate(v)} req/s offered")
        )
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _with_load(groups: pd.DataFrame, col: str, text: Any) -> pd.DataFrame:
    """groups with its load column `col` replaced by a 'load' text column in its place."""
    out = groups.copy()
    at = list(out.columns).index(col)
    out.insert(at, "load", [text(v) for v in out[col]])
    return out.drop(columns=col)


def _placement_text(placement: Placement | None) -> str:
    if placement is None:  # a run from before placements were recorded, or a synthetic one
        return "not recorded"
    server = ", ".join(map(str, placement.server_cpus))
    loadgen = ", ".join(map(str, placement.loadgen_cpus))
    if placement.mode == "split":
        return f"split: server on CPU {server}; load generator and backend on CPU {loadgen}"
    return f"shared: every process on CPUs {server}"


def _environment_text(info: EnvironmentInfo) -> str:
    """An [[environments]] entry as it ran: its interpreter and every package's version."""
    packages = ", ".join(f"{k} {v}" for k, v in sorted(info.packages.items()))
    return f"{info.describe()} ({info.python}); {packages}"


def _environment(run: RunData) -> list[tuple[str, str]]:
    """(what, value) rows of the environment table."""
    env, suite = run.run.environment, run.run.settings
    cores = "?" if env.cores is None else env.cores
    return [
        ("CPU", f"{env.cpu_model} ({cores} cores)"),
        ("memory", f"{env.memory_bytes / 2**30:.1f} GiB"),
        ("OS", env.platform),
        ("Python", env.python_version),
        ("packages", ", ".join(f"{k} {v}" for k, v in env.packages.items())),
        ("git commit", f"{env.git_commit}{' (modified)' if env.git_dirty else ''}"),
        ("placement", _placement_text(run.run.placement)),
        ("machine before the run", run.run.preflight.describe() or "not looked at"),
        *((f"environment {e.name}", _environment_text(e)) for e in run.run.environments),
        (
            "suite",
            f"duration {suite.duration_s} s, warm-up {suite.warmup_s} s, "
            f"repeats {suite.repeats}, max error rate {suite.max_error_rate}, "
            f"threads {suite.threads}, processes {suite.processes}",
        ),
    ]
