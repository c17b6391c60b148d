"""The charts people explore, as data for report.html's interactive charts: every panel's x
values, one y series per strategy (and per percentile where a chart draws several), the cell
ids behind each point, the model's bounds and the reference lines, in the same colours and
order as the PNGs (kit.py). report/assets/charts.js draws them with the vendored uPlot; the
PNGs stay as they are, for the README, CI and a reader without JavaScript.

Only small numbers cross into the page: a point per load level, a spectrum resampled on one
grid of percentiles, a point per second of the time series. Each chart's data is built from
the frames the PNG is drawn from (ChartInputs), never from request rows."""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from analysis import aggregate
from analysis.figures import kit
from analysis.figures.charts import ChartInputs
from analysis.readings.connections import DELIVERY_SLO_MS, live_cells
from analysis.readings.openloop import open_families
from catalog import workloads
from catalog.strategies import LOOPS

# The spectrum's common grid of x = 1 / (1 - percentile), log-spaced from p0 to p99.9: every
# line of a panel is sampled at the same x so one cursor reads them all. 120 points keep the
# curve smooth at a panel's width; the labelled percentiles are on the grid exactly.
SPECTRUM_GRID = 120
SPECTRUM_TICKS = (1.0, 2.0, 10.0, 100.0, 1000.0)  # 0 %, 50 %, 90 %, 99 %, 99.9 %
# Significant digits of a number in the page: below any figure the tables show, and a
# quarter of the bytes of a float's repr.
DIGITS = 5
# Values spanning more than these get a log axis, as kit.scale_y decides for the PNGs.
LOG_SPAN = 20.0
SPECTRUM_LOG_SPAN = 5.0
OPEN_LOG_X_SPAN = 10.0  # openloop.LOG_X_SPAN: offered rates stepped geometrically
# Line looks in the page (CSS pixels): dash patterns for the second and third lines of one
# strategy, the model bound's width (drawn pale, as the PNG's band).
DASHED = (6.0, 3.0)
DOTTED = (2.0, 3.0)
BOUND_WIDTH = 7.0
CEILING_COLOUR = "#555555"
SLO_COLOUR = "#333333"
REFERENCE_COLOUR = "#888888"
MAX_IDS = 4  # cell ids named under one hovered point; the rest are counted
REPEAT = re.compile(r"(.+)-r(\d+)")  # a cell id's configuration and its repeat
PANEL_COLUMNS = 3  # kit.panels: three panels a row

Number = float | None


@dataclass(frozen=True)
class Axis:
    """One axis: its label, scale and how its values read in a tooltip."""

    label: str
    log: bool = False
    ticks: tuple[float, ...] = ()  # labelled values; empty: the library chooses
    unit: str = ""  # after a value in a tooltip: " users", " ms"
    kind: str = "num"  # "num", "pct" (x = 1 / (1 - p) read as a percentile) or "s" (seconds)
    zero: bool = False  # a linear axis that starts at 0

    def __post_init__(self) -> None:
        if self.kind not in ("num", "pct", "s"):
            raise ValueError(f"axis kind {self.kind!r} is not num, pct or s")
        if self.log and any(t <= 0 for t in self.ticks):
            raise ValueError("a log axis has only positive ticks")


@dataclass(frozen=True)
class Series:
    """One line: a strategy's values at the panel's x (None where it has none), the cell ids
    behind each point (one entry: the whole line is one cell) and how it looks."""

    label: str
    group: str  # the legend entry that shows and hides it: its strategy
    colour: str
    y: tuple[Number, ...]
    ids: tuple[str, ...] = ()
    width: float = 2.0
    dash: tuple[float, ...] = ()
    points: bool = True
    hollow: bool = False
    faded: bool = False  # an invalid cell's line: shown, not trusted
    bound: bool = False  # the model's bound: pale and wide, never hovered
    low: tuple[Number, ...] = ()  # 95 % interval, drawn as error bars
    high: tuple[Number, ...] = ()
    marks: tuple[str, ...] = ()  # per point: "", "invalid" (a red x) or "limited" (a caret)

    def __post_init__(self) -> None:
        if not (self.colour.startswith("#") and len(self.colour) == 7):
            raise ValueError(f"colour {self.colour!r} is not #rrggbb")
        n = len(self.y)
        for name in ("low", "high", "marks"):
            if len(getattr(self, name)) not in (0, n):
                raise ValueError(f"series {self.label!r}: {name} has not one value a point")
        if len(self.ids) not in (0, 1, n):
            raise ValueError(f"series {self.label!r}: ids is neither one a point nor one")
        if set(self.marks) - {"", "invalid", "limited"}:
            raise ValueError(f"series {self.label!r}: unknown marks {set(self.marks)}")


@dataclass(frozen=True)
class Line:
    """A reference line across a panel (a ceiling, an SLO, a bound), hidden with its group
    when it has one."""

    at: float
    label: str
    colour: str
    dash: tuple[float, ...] = ()
    group: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    x: tuple[float, ...]
    xaxis: Axis
    yaxis: Axis
    series: tuple[Series, ...]
    hlines: tuple[Line, ...] = ()
    vlines: tuple[Line, ...] = ()
    shade: tuple[float, ...] = ()  # an x range shaded grey (a warm-up), or nothing
    sync: str = ""  # panels with one key share their cursor and their zoom

    def __post_init__(self) -> None:
        if any(len(s.y) != len(self.x) for s in self.series):
            raise ValueError(f"panel {self.title!r}: a series has not one value per x")
        if list(self.x) != sorted(self.x):
            raise ValueError(f"panel {self.title!r}: x is not sorted")
        if len(self.shade) not in (0, 2):
            raise ValueError(f"panel {self.title!r}: shade is a range of two values")


@dataclass(frozen=True)
class Key:
    """A legend entry: a click on it shows or hides every line of its group."""

    group: str
    colour: str
    dash: tuple[float, ...] = ()


@dataclass(frozen=True)
class InteractiveChart:
    name: str  # the PNG's name: the figure it replaces
    title: str
    panels: tuple[Panel, ...]
    keys: tuple[Key, ...]
    notes: tuple[str, ...] = ()  # how to read the lines: what filled, hollow, pale mean
    columns: int = PANEL_COLUMNS

    def __post_init__(self) -> None:
        if not self.panels:
            raise ValueError(f"chart {self.name!r} has no panel")
        groups = {k.group for k in self.keys}
        missing = {s.group for p in self.panels for s in p.series} - groups
        if missing:
            raise ValueError(f"chart {self.name!r}: no legend entry for {sorted(missing)}")

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values, defaults left out and numbers rounded to DIGITS (the page
        carries every chart; the full suite's has thousands of points). Each panel lists its
        cells' names once ("cells"); a series' ids are indices into that list (a point's
        p50 and p99 name the same cells)."""
        out = _compact(self)
        assert isinstance(out, dict)
        for panel in out["panels"]:
            names: dict[str, int] = {}
            for series in panel["series"]:
                if "ids" in series:
                    series["ids"] = [names.setdefault(i, len(names)) for i in series["ids"]]
            if names:
                panel["cells"] = list(names)
        return out


def _compact(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        out = {}
        for f in fields(value):
            item = getattr(value, f.name)
            if f.default is not MISSING and item == f.default:
                continue
            out[f.name] = _compact(item)
        return out
    if isinstance(value, tuple | list):
        return [_compact(v) for v in value]
    if isinstance(value, float):
        return _round(value)
    return value


def _round(value: float) -> float | int | None:
    if not math.isfinite(value):
        return None
    rounded = float(f"{value:.{DIGITS}g}")
    return int(rounded) if rounded.is_integer() and abs(rounded) < 2**53 else rounded


# -- helpers shared by the builders -------------------------------------------------------


def _values(values: Iterable[Any]) -> tuple[Number, ...]:
    """Floats, with None for anything missing or not finite."""
    out: list[Number] = []
    for v in values:
        try:
            f = float(v)
        except (TypeError, ValueError):
            out.append(None)
            continue
        out.append(f if math.isfinite(f) else None)
    return tuple(out)


def _positive(values: Iterable[Number]) -> tuple[Number, ...]:
    """What a log axis can show: None for values that are not above 0."""
    return tuple(v if v is not None and v > 0 else None for v in values)


def _spans(values: Iterable[Any], span: float) -> bool:
    """kit.scale_y's rule: a log axis where the positive values span more than `span`x."""
    v = kit.positive(np.asarray(list(values), dtype=float))
    return bool(len(v) and v.max() / v.min() > span)


def cell_list(cells: Sequence[str]) -> str:
    """The cells behind one point as a reader takes them in: the repeats of one configuration
    as 'sync-...-u10-r1, r2, r3'; other cells by id, the first MAX_IDS and a count."""
    repeats = [REPEAT.fullmatch(c) for c in cells]
    if len(cells) > 1 and all(repeats) and len({m.group(1) for m in repeats if m}) == 1:
        return cells[0] + "".join(f", r{m.group(2)}" for m in repeats[1:] if m)
    text = ", ".join(cells[:MAX_IDS])
    return text + (f" (+{len(cells) - MAX_IDS} more)" if len(cells) > MAX_IDS else "")


def _ids(frame: pd.DataFrame, key: str, xs: Sequence[float]) -> tuple[str, ...]:
    """The cells behind each x (cell_list)."""
    by = frame.groupby(key)["cell_id"].agg(list).to_dict()
    return tuple(cell_list([str(c) for c in by.get(x, [])]) for x in xs)


def _aligned(means: pd.Series, xs: Sequence[float]) -> tuple[Number, ...]:
    return _values(means.get(x, math.nan) for x in xs)


def _marks(frame: pd.DataFrame, key: str, col: str, xs: Sequence[float]) -> tuple[str, ...]:
    """Per x: 'invalid' when a cell there is invalid, else 'limited' when one is
    generator-limited (its req/s a lower bound), else ''."""
    measured = frame[frame[col].notna()]
    invalid = set(measured.loc[~measured["valid"].astype(bool), key])
    limited = set(measured.loc[kit.limited_rows(measured), key]) if col == "rps" else set()
    marks = tuple("invalid" if x in invalid else "limited" if x in limited else "" for x in xs)
    return marks if any(marks) else ()


def _dash(linestyle: Any) -> tuple[float, ...]:
    """A matplotlib line style as a canvas dash pattern (pixels)."""
    if linestyle in ("-", "solid", None):
        return ()
    if isinstance(linestyle, tuple) and len(linestyle) == 2:
        return tuple(float(v) * 2 for v in linestyle[1])
    return DASHED


def _key(variant: str, dash: tuple[float, ...] = ()) -> Key:
    return Key(variant, kit.colour(variant), dash)


def _users_axis(users: Iterable[Any]) -> Axis:
    ticks = tuple(sorted({float(u) for u in users}))
    return Axis("concurrent users", log=True, ticks=ticks, unit=" users")


def _panel_title(scenario: str, loop: str, loops: int, users: int | None = None) -> str:
    text = kit.label(scenario, loop, loops)
    return text if users is None else f"{text}, {users} users"


# -- the charts -----------------------------------------------------------------------------


def throughput(closed: pd.DataFrame) -> InteractiveChart | None:
    """Req/s against users per family, with its interval, each strategy's bound (pale, as
    the PNG draws it) and the generator's calibrated ceiling."""
    families = aggregate.families(closed)
    if not families:
        return None
    loops = closed["loop"].nunique()
    panels, keys = [], {}
    for scenario, loop in families:
        fam = aggregate.family(closed, scenario, loop)
        fam = fam.assign(users=fam["users"].astype(float))
        xs = sorted(set(fam["users"]))
        series = []
        for variant in kit.variants(fam):
            group = fam[fam["variant"] == variant]
            colour = kit.colour(variant)
            keys[variant] = _key(variant)
            cols = [c for c in ("rps", "rps_ci_low", "rps_ci_high", "expected_rps") if c in group]
            means = group.groupby("users")[cols].mean()
            bound = _aligned(means["expected_rps"], xs) if "expected_rps" in means else ()
            if any(v is not None for v in bound):
                series.append(Series(f"{variant} bound", variant, colour, bound, bound=True))
            series.append(
                Series(
                    variant,
                    variant,
                    colour,
                    _aligned(means["rps"], xs),
                    _ids(group, "users", xs),
                    dash=_dash(kit.style(variant).linestyle),
                    low=_aligned(means["rps_ci_low"], xs) if "rps_ci_low" in means else (),
                    high=_aligned(means["rps_ci_high"], xs) if "rps_ci_high" in means else (),
                    marks=_marks(group, "users", "rps", xs),
                )
            )
        ceilings = _ceilings(fam)
        ys = [*fam["rps"], *fam.get("expected_rps", []), *(c.at * 1.15 for c in ceilings)]
        panels.append(
            Panel(
                _panel_title(scenario, loop, loops),
                tuple(xs),
                _users_axis(xs),
                Axis("throughput (req/s)", log=_spans(ys, LOG_SPAN), unit=" req/s", zero=True),
                tuple(series),
                hlines=ceilings,
            )
        )
    notes = ["pale band: the model's bound (same colour)", "bars: 95% interval"]
    if any(p.hlines for p in panels):
        notes.append("dotted grey: the load generator's calibrated ceiling")
    notes += _mark_notes(panels)
    return InteractiveChart(
        "throughput",
        "Throughput vs load: measured with its 95% interval, against each strategy's bound",
        tuple(panels),
        tuple(keys.values()),
        tuple(notes),
    )


def _ceilings(fam: pd.DataFrame) -> tuple[Line, ...]:
    """The family's calibrated generator ceilings (lines.py's _ceiling_lines)."""
    if "ceiling_rps" not in fam:
        return ()
    out = []
    column = "ceiling_workers" if "ceiling_workers" in fam else "loadgen_workers"
    for ceiling in sorted(set(fam["ceiling_rps"].dropna().astype(float))):
        workers = int(fam.loc[fam["ceiling_rps"] == ceiling, column].iloc[0])
        label = f"generator ceiling ({workers} worker{'s' if workers != 1 else ''})"
        out.append(Line(ceiling, label, CEILING_COLOUR, DOTTED))
    return tuple(out)


def _mark_notes(panels: Iterable[Panel]) -> list[str]:
    marks = {m for p in panels for s in p.series for m in s.marks}
    notes = []
    if "limited" in marks:
        notes.append("caret: generator-limited, req/s is at least this")
    if "invalid" in marks:
        notes.append("red x: invalid cell (not trusted)")
    return notes


def latency(closed: pd.DataFrame) -> InteractiveChart | None:
    """p50 (filled) and p99 (hollow) against users per family."""
    families = aggregate.families(closed)
    if not families:
        return None
    loops = closed["loop"].nunique()
    panels, keys = [], {}
    for scenario, loop in families:
        fam = aggregate.family(closed, scenario, loop)
        fam = fam.assign(users=fam["users"].astype(float))
        xs = sorted(set(fam["users"]))
        series = []
        for variant in kit.variants(fam):
            group = fam[fam["variant"] == variant]
            keys[variant] = _key(variant)
            colour, dash = kit.colour(variant), _dash(kit.style(variant).linestyle)
            means = group.groupby("users")[["p50_ms", "p99_ms"]].mean()
            ids = _ids(group, "users", xs)
            series.append(
                Series(variant, variant, colour, _aligned(means["p50_ms"], xs), ids, dash=dash)
            )
            series.append(
                Series(
                    f"{variant} p99",
                    variant,
                    colour,
                    _aligned(means["p99_ms"], xs),
                    ids,
                    width=1.2,
                    dash=dash,
                    hollow=True,
                    marks=_marks(group, "users", "p99_ms", xs),
                )
            )
        log = _spans(fam[["p50_ms", "p99_ms"]].to_numpy(float).ravel(), LOG_SPAN)
        panels.append(
            Panel(
                _panel_title(scenario, loop, loops),
                tuple(xs),
                _users_axis(xs),
                Axis("latency (ms)", log=log, unit=" ms", zero=True),
                tuple(_log_safe(series, log)),
            )
        )
    notes = ["p50: filled markers", "p99: hollow markers", *_mark_notes(panels)]
    return InteractiveChart(
        "latency",
        "Latency vs load: median (filled) and 99th percentile (hollow)",
        tuple(panels),
        tuple(keys.values()),
        tuple(notes),
    )


def _log_safe(series: Iterable[Series], log: bool) -> list[Series]:
    """On a log axis, values at or below 0 are left out (a log scale cannot place them)."""
    if not log:
        return list(series)
    return [_with_y(s, _positive(s.y)) for s in series]


def _with_y(s: Series, y: tuple[Number, ...]) -> Series:
    values = {f.name: getattr(s, f.name) for f in fields(s)}
    return Series(**{**values, "y": y})


def spectrum_grid() -> np.ndarray:
    """x = 1 / (1 - p) from p0 to p99.9, log-spaced, with SPECTRUM_TICKS on it."""
    grid = np.geomspace(1.0, 1000.0, SPECTRUM_GRID)
    return np.unique(np.round(np.concatenate([grid, SPECTRUM_TICKS]), 6))


def resample(curve: tuple[np.ndarray, np.ndarray], grid: np.ndarray) -> tuple[Number, ...]:
    """A spectrum curve (curves.spectrum_curve) at the grid's x, interpolated on log x; None
    outside the percentiles the cell measured."""
    x, y = np.asarray(curve[0], float), np.asarray(curve[1], float)
    at = np.interp(np.log(grid), np.log(x), y, left=math.nan, right=math.nan)
    return _values(at)


def spectrum(
    closed: pd.DataFrame, spectra: Mapping[str, tuple[np.ndarray, np.ndarray]]
) -> InteractiveChart | None:
    """Each family's shown cells: latency by percentile on one grid of percentiles."""
    chosen = aggregate.spectrum_cells(closed)
    loops = closed["loop"].nunique() if len(closed) else 0
    grid = spectrum_grid()
    panels, keys = [], {}
    any_faded = False
    for (scenario, loop), cells in chosen.items():
        series = []
        for row in sorted(cells.itertuples(), key=lambda r: kit.order_key(r.variant)):
            if row.cell_id not in spectra:
                continue
            variant = str(row.variant)
            keys[variant] = _key(variant)
            y = _positive(resample(spectra[row.cell_id], grid))
            faded = not bool(row.valid)
            any_faded |= faded
            series.append(
                Series(
                    variant,
                    variant,
                    kit.colour(variant),
                    y,
                    (str(row.cell_id),),
                    dash=_dash(kit.style(variant).linestyle),
                    points=False,
                    faded=faded,
                )
            )
        if not series:
            continue
        users = int(cells["users"].iloc[0])
        ys = [v for s in series for v in s.y if v is not None]
        panels.append(
            Panel(
                _panel_title(scenario, loop, loops, users),
                tuple(float(v) for v in grid),
                Axis("percentile", log=True, ticks=SPECTRUM_TICKS, kind="pct"),
                Axis("latency (ms)", log=_spans(ys, SPECTRUM_LOG_SPAN), unit=" ms", zero=True),
                tuple(series),
            )
        )
    if not panels:
        return None
    notes = ("faded: invalid cell (not trusted)",) if any_faded else ()
    return InteractiveChart(
        "spectrum",
        "Latency by percentile (HdrHistogram style): tails to the right",
        tuple(panels),
        tuple(keys.values()),
        notes,
    )


def time_series(
    closed: pd.DataFrame,
    series: Mapping[str, pd.DataFrame],
    warmups: Mapping[str, float],
    ends: Mapping[str, float] | None = None,
) -> InteractiveChart | None:
    """Per family, req/s and p95 each second from the start of warm-up (shaded) to the end
    of the window: two panels side by side sharing cursor and zoom."""
    chosen = aggregate.spectrum_cells(closed)
    loops = closed["loop"].nunique() if len(closed) else 0
    panels, keys = [], {}
    for i, ((scenario, loop), cells) in enumerate(chosen.items()):
        frames, warm = [], 0.0
        for row in sorted(cells.itertuples(), key=lambda r: kit.order_key(r.variant)):
            frame = series.get(row.cell_id)
            if frame is None or frame.empty:
                continue
            warm = warmups.get(row.cell_id, 0.0)
            if ends and row.cell_id in ends:
                frame = frame[frame["second"] + 1 <= ends[row.cell_id] + 1e-6]
            frames.append((row, frame))
        if not frames:
            continue
        xs = sorted({float(s) + 0.5 for _, f in frames for s in f["second"]})
        top, bottom = [], []
        for row, frame in frames:
            variant = str(row.variant)
            keys[variant] = _key(variant)
            look: dict[str, Any] = {
                "ids": (str(row.cell_id),),
                "width": 1.8,
                "dash": _dash(kit.style(variant).linestyle),
            }
            at = frame.assign(x=frame["second"].astype(float) + 0.5).set_index("x")
            colour = kit.colour(variant)
            top.append(Series(variant, variant, colour, _aligned(at["rps"], xs), **look))
            p95 = _aligned(at["p95_ms"], xs)
            bottom.append(Series(f"{variant} p95", variant, colour, p95, **look))
        users = int(cells["users"].iloc[0])
        title = _panel_title(scenario, loop, loops, users)
        seconds = Axis("seconds since load started", unit=" s", kind="s")
        shade = (0.0, float(warm)) if warm > 0 else ()
        p95s = [v for s in bottom for v in s.y if v is not None]
        log = _spans(p95s, LOG_SPAN)
        panels.append(
            Panel(
                f"{title}: req/s",
                tuple(xs),
                seconds,
                Axis("req/s (per second)", unit=" req/s", zero=True),
                tuple(top),
                shade=shade,
                sync=f"ts{i}",
            )
        )
        panels.append(
            Panel(
                f"{title}: p95",
                tuple(xs),
                seconds,
                Axis("p95 latency (ms)", log=log, unit=" ms", zero=True),
                tuple(_log_safe(bottom, log)),
                shade=shade,
                sync=f"ts{i}",
            )
        )
    if not panels:
        return None
    return InteractiveChart(
        "timeseries",
        "Over time: throughput and p95 each second (shaded warm-up is excluded)",
        tuple(panels),
        tuple(keys.values()),
        ("shaded: warm-up (excluded)", "drag across a panel to zoom, double-click to reset"),
        columns=2,
    )


def cpu(closed: pd.DataFrame) -> InteractiveChart | None:
    """The server's CPU against users per family, one core busy marked."""
    if closed.empty or closed["server_cpu_pct"].isna().all():
        return None
    families = aggregate.families(closed)
    if not families:
        return None
    loops = closed["loop"].nunique()
    panels, keys = [], {}
    for scenario, loop in families:
        fam = aggregate.family(closed, scenario, loop)
        fam = fam.assign(users=fam["users"].astype(float))
        xs = sorted(set(fam["users"]))
        series = []
        for variant in kit.variants(fam):
            group = fam[fam["variant"] == variant]
            keys[variant] = _key(variant)
            means = group.groupby("users")["server_cpu_pct"].mean()
            series.append(
                Series(
                    variant,
                    variant,
                    kit.colour(variant),
                    _aligned(means, xs),
                    _ids(group, "users", xs),
                    dash=_dash(kit.style(variant).linestyle),
                )
            )
        panels.append(
            Panel(
                _panel_title(scenario, loop, loops),
                tuple(xs),
                _users_axis(xs),
                Axis("server CPU (% of one core)", unit=" %", zero=True),
                tuple(series),
                hlines=(Line(100.0, "one core busy", REFERENCE_COLOUR, DASHED),),
            )
        )
    return InteractiveChart(
        "cpu",
        "Server CPU vs load: near 100% per process means CPU-bound, low means waiting",
        tuple(panels),
        tuple(keys.values()),
        ("dashed grey: one core busy",),
    )


def openloop(summary: pd.DataFrame, slo_ms: float | None = None) -> InteractiveChart | None:
    """Per open-loop family: corrected p99 (thick), service p99 (dashed, hollow) and
    corrected p50 (thin) against the offered rate; each strategy's bound X_max as a dotted
    vertical line in its colour, the SLO as a horizontal one."""
    families = open_families(summary)
    if not families:
        return None
    loops = summary["loop"].nunique()
    slo = float(slo_ms) if slo_ms is not None and math.isfinite(slo_ms) and slo_ms > 0 else None
    panels, keys = [], {}
    for (scenario, loop), fam in families.items():
        fam = fam.assign(offered_rps=fam["offered_rps"].astype(float))
        xs = sorted(set(fam["offered_rps"]))
        series, bounds = [], []
        for variant in kit.variants(fam):
            group = fam[fam["variant"] == variant]
            keys[variant] = _key(variant)
            colour = kit.colour(variant)
            cols = ["p50_corrected_ms", "p99_corrected_ms", "p99_ms"]
            means = group.groupby("offered_rps")[cols].mean()
            ids = _ids(group, "offered_rps", xs)
            marks = _marks(group, "offered_rps", "p99_corrected_ms", xs)
            series += [
                Series(
                    variant,
                    variant,
                    colour,
                    _aligned(means["p99_corrected_ms"], xs),
                    ids,
                    width=2.4,
                    marks=marks,
                ),
                Series(
                    f"{variant} p99 service",
                    variant,
                    colour,
                    _aligned(means["p99_ms"], xs),
                    ids,
                    width=1.3,
                    dash=DASHED,
                    hollow=True,
                ),
                Series(
                    f"{variant} p50 corrected",
                    variant,
                    colour,
                    _aligned(means["p50_corrected_ms"], xs),
                    ids,
                    width=0.9,
                ),
            ]
            cap = group["capacity_rps"].median() if "capacity_rps" in group else math.nan
            if pd.notna(cap) and cap > 0:
                bounds.append(Line(float(cap), f"{variant} bound", colour, DOTTED, variant))
        hlines = (Line(slo, "SLO", SLO_COLOUR, (6.0, 3.0, 2.0, 3.0)),) if slo else ()
        rates = np.asarray(xs, dtype=float)
        log_x = bool(
            len(rates) and rates.min() > 0 and rates.max() / rates.min() >= OPEN_LOG_X_SPAN
        )
        panels.append(
            Panel(
                kit.label(scenario, loop, loops),
                tuple(xs),
                Axis("offered rate (req/s)", log=log_x, ticks=tuple(xs), unit=" req/s offered"),
                Axis("latency (ms)", log=True, unit=" ms"),
                tuple(_log_safe(series, True)),
                hlines=hlines,
                vlines=tuple(bounds),
            )
        )
    notes = [
        "thick: p99 corrected (from the intended send)",
        "dashed, hollow: p99 service",
        "thin: p50 corrected",
        "dotted vertical: the model's bound X_max (same colour)",
    ]
    if slo is not None:
        notes.append("dash-dot: the SLO")
    notes += _mark_notes(panels)
    return InteractiveChart(
        "openloop",
        "Open loop: latency vs offered rate, against each strategy's bound",
        tuple(panels),
        tuple(keys.values()),
        tuple(notes),
    )


CONNECTION_TITLES = {
    "ws-feed": "WebSocket feed (delivery)",
    "ws-echo": "WebSocket echo (round trip)",
    "poll": "long-poll (wait to answer)",
}


def _connections(
    cells: pd.DataFrame, y: str, ylabel: str, unit: str, name: str, title: str, slo: bool
) -> InteractiveChart | None:
    """One panel per long-lived workload: y against the connections held, a line per
    strategy and loop (hollow and dotted off the default loop, as the PNG draws it)."""
    if cells.empty or y not in cells:
        return None
    shown = cells[cells[y].notna() & (cells["connections_held"] > 0)]
    if shown.empty:
        return None
    panels, keys = [], {}
    for scenario in [s for s in CONNECTION_TITLES if s in set(shown["scenario_name"])]:
        group = shown[shown["scenario_name"] == scenario]
        group = group.assign(connections_held=group["connections_held"].astype(float))
        xs = sorted(set(group["connections_held"]))
        series = []
        for label, line in group.groupby("series", sort=True):
            label = str(label)
            variant, loop = str(line["variant"].iloc[0]), str(line["loop"].iloc[0])
            other_loop = loop != LOOPS[0]
            dash = DOTTED if other_loop else _dash(kit.style(variant).linestyle)
            keys[label] = Key(label, kit.colour(variant), dash)
            means = line.groupby("connections_held")[y].mean()
            series.append(
                Series(
                    label,
                    label,
                    kit.colour(variant),
                    _positive(_aligned(means, xs)),
                    _ids(line, "connections_held", xs),
                    dash=dash,
                    hollow=other_loop,
                )
            )
        hlines: tuple[Line, ...] = ()
        if slo and workloads.live(scenario) == workloads.LIVE_FEED:
            hlines = (Line(DELIVERY_SLO_MS, "delivery SLO", REFERENCE_COLOUR, DOTTED),)
        panels.append(
            Panel(
                CONNECTION_TITLES[scenario],
                tuple(xs),
                Axis("connections held (server's /health)", log=True, unit=" connections"),
                Axis(ylabel, log=True, unit=unit),
                tuple(series),
                hlines=hlines,
            )
        )
    return InteractiveChart(name, title, tuple(panels), tuple(keys.values()))


def connections_latency(summary: pd.DataFrame) -> InteractiveChart | None:
    return _connections(
        live_cells(summary),
        "p99_ms",
        "p99 latency (ms)",
        " ms",
        "connections-latency",
        "Long-lived connections: p99 latency vs connections held",
        slo=True,
    )


def connections_memory(summary: pd.DataFrame) -> InteractiveChart | None:
    return _connections(
        live_cells(summary),
        "kb_per_connection",
        "server KB per connection",
        " KB",
        "connections-memory",
        "Long-lived connections: server memory per connection",
        slo=False,
    )


# The summary columns the builders read: a narrow copy is selected once, since every filter
# on the summary's sixty columns copies them all (four times slower over a full suite).
COLUMNS = (
    *("cell_id", "scenario", "scenario_name", "loop", "variant", "users", "repeat", "requests"),
    *("valid", "rps", "rps_ci_low", "rps_ci_high", "expected_rps", "generator_limited"),
    *("ceiling_rps", "ceiling_workers", "loadgen_workers", "p50_ms", "p99_ms", "window"),
    *("server_cpu_pct", "offered_rps", "capacity_rps", "p50_corrected_ms", "p99_corrected_ms"),
    *("open_loop",),
)


@dataclass(frozen=True)
class Frames:
    """What the builders draw from: ChartInputs' frames, narrowed to COLUMNS."""

    closed: pd.DataFrame
    summary: pd.DataFrame
    slo_ms: float | None
    material: ChartInputs

    @classmethod
    def of(cls, material: ChartInputs) -> Frames:
        def narrow(frame: pd.DataFrame) -> pd.DataFrame:
            return frame[[c for c in COLUMNS if c in frame]]

        return cls(narrow(material.closed), narrow(material.summary), material.slo_ms, material)


# The charts drawn in the page, by the name of the PNG each one stands for. The others (bars,
# the fan-out sweep, the backlog) stay PNGs: a handful of bars reads at a glance, and their
# numbers are in the tables.
BUILDERS: dict[str, Callable[[Frames], InteractiveChart | None]] = {
    "throughput": lambda f: throughput(f.closed),
    "latency": lambda f: latency(f.closed),
    "openloop": lambda f: openloop(f.summary, f.slo_ms),
    "spectrum": lambda f: spectrum(f.closed, f.material.spectra()),
    "timeseries": lambda f: time_series(f.closed, *f.material.series_args()[1:]),
    "cpu": lambda f: cpu(f.closed),
    # The long-lived cells are few, and their table of columns is connections_text's own.
    "connections-memory": lambda f: connections_memory(f.material.summary),
    "connections-latency": lambda f: connections_latency(f.material.summary),
}


def build(material: ChartInputs, names: Iterable[str]) -> dict[str, InteractiveChart]:
    """name → the interactive chart of each named PNG that has one. A chart that raises is
    left as its PNG with a warning: the page must not be lost for one chart."""
    frames = Frames.of(material) if len(material.summary) else None
    out: dict[str, InteractiveChart] = {}
    for name in names:
        make = BUILDERS.get(name)
        if make is None or frames is None:
            continue
        try:
            chart = make(frames)
        except Exception as exc:  # reported; the PNG stands in
            print(
                f"warning: interactive chart {name} left as its PNG: {type(exc).__name__}: {exc}",
                file=sys.stderr,
            )
            continue
        if chart is not None:
            out[name] = chart
    return out
