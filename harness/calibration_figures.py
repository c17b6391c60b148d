"""calibrate's figures: repeated measurements with their intervals, the fixed-cost fit of the
generator's CPU, and calibration.json's content (record/calibration.py) and printed lines.
Pure: no processes, no I/O (harness/calibrate.py runs the cells)."""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from typing import NamedTuple

from record.calibration import Calibration, Interval

USERS = 32  # the ceiling cells' users (and wrk's connections)
CHECK_USERS = 10  # the ordinary cell of the cross-check: the quick suite's own /hello cell
# A closed-loop cell at a lower rate (one user waits for each answer): with the lean
# generator every calibration cell is server-bound, so the ceiling and check cells run at
# about the same req/s and the fixed-cost fit needs a point well below them.
LOW_USERS = 1
# The WebSocket message's cost: a feed of WS_CONNECTIONS subscribers, a message every
# WS_INTERVAL_MS to each: 5,000 messages a second, the figure for 10,000 connections
# at 2 s, reached with fewer connections so that a round stays short.
WS_CONNECTIONS = 1000
WS_INTERVAL_MS = 200
WS_BYTES = 64
CEILING_BUSY = 0.9
TARGET_CI_PCT = 5.0  # a figure is published once its 95 % interval is this narrow (± % of it)
MIN_ROUNDS = 3  # the fewest that estimate their own spread
CHECK_PCT = 10.0  # the ordinary cell must agree this closely


@dataclass(frozen=True)
class Estimate:
    """A mean with its 95 % t interval from repeated measurements."""

    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values) if self.values else math.nan

    @property
    def half_width(self) -> float:
        if self.n < 2:
            return math.inf
        from scipy import stats

        sd = statistics.stdev(self.values)
        return float(stats.t.ppf(0.975, self.n - 1)) * sd / math.sqrt(self.n)

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    @property
    def half_width_pct(self) -> float:
        return self.half_width / abs(self.mean) * 100 if self.mean else math.inf

    def narrow(self, target_pct: float, least: int = MIN_ROUNDS) -> bool:
        return self.n >= least and self.half_width_pct <= target_pct

    def added(self, value: float | None) -> Estimate:
        ok = value is not None and math.isfinite(value)
        return Estimate((*self.values, float(value))) if ok else self  # type: ignore[arg-type]


@dataclass
class Rounds:
    """What the rounds measured so far, per figure."""

    cost: Estimate = Estimate(())  # ceiling cells: generator ms per request
    rps: Estimate = Estimate(())  # ceiling cells: req/s
    cpu: Estimate = Estimate(())  # ceiling cells: every Locust process's CPU %
    busy: Estimate = Estimate(())  # ceiling cells: how busy the generator's cores were
    check: Estimate = Estimate(())  # ordinary cell: generator ms per request
    check_rps: Estimate = Estimate(())  # ordinary cell: req/s
    wrk: Estimate = Estimate(())  # wrk req/s on the same server and connections
    ratio: Estimate = Estimate(())  # per round: ceiling cell's req/s ÷ wrk's
    at_n: Estimate = Estimate(())  # --workers N: req/s per worker
    at_n_cpu: Estimate = Estimate(())
    server: Estimate = Estimate(())  # ordinary cell: the server's CPU ms per request
    headroom: Estimate = Estimate(())  # ordinary cell, per round: server ms ÷ generator ms
    ws_rate: Estimate = Estimate(())  # feed cell: messages per second
    ws_gen: Estimate = Estimate(())  # feed cell: generator CPU ms per message
    ws_server: Estimate = Estimate(())  # feed cell: server CPU ms per message
    ws_headroom: Estimate = Estimate(())
    skipped: list[str] = field(default_factory=list)
    # Cells counted although a run would call them invalid: their generator's cores were
    # above a run's limit, the load calibrate is there to measure (Calibration.cell).
    at_limit: int = 0
    # (req/s, every Locust process's CPU %) of each valid cell, for the fixed-cost fit.
    points: list[tuple[float, float]] = field(default_factory=list)

    def converged(self, with_wrk: bool) -> bool:
        figures = [self.cost, self.check] + ([self.ratio] if with_wrk else [])
        if self.headroom.n:  # the rounds measured it (tests may feed the older figures only)
            figures.append(self.headroom)
        return all(f.narrow(TARGET_CI_PCT) for f in figures)


# The fit needs req/s that differ this much (max/min) between cells to separate the parts.
FIT_SPREAD = 1.3


def fixed_cost_fit(points: list[tuple[float, float]]) -> tuple[float, float] | None:
    """Least squares of the generator's CPU % on req/s over the calibration's cells: (the
    CPU % it spends whatever the rate, ms per extra request). A fixed part makes the
    per-request figure (CPU ÷ req/s) rise as req/s falls, so a ceiling from a cell whose
    server was slow (a busy machine) comes out low; None when the req/s did not vary enough."""
    if len(points) < 3:
        return None
    rps = [p[0] for p in points]
    if max(rps) / min(rps) < FIT_SPREAD:
        return None
    slope, intercept = statistics.linear_regression(rps, [p[1] for p in points])
    return intercept, slope * 10.0  # % per (req/s) → ms per request


BOOTSTRAP = 2000  # resamples of the fit's points for the ceiling's interval
# The fit's ceiling is used only when its interval is this narrow (± % of it): within one
# calibration the cells' req/s often vary too little (a server-bound 445-878 req/s on a busy
# machine here gave fits of 20,000-50,000 req/s, intervals 10× wide).
FIT_CI_PCT = 25.0


def fit_ceiling(points: list[tuple[float, float]]) -> tuple[float, Interval] | None:
    """The req/s at which the generator's CPU reaches 90 % by the fixed-cost fit, with a
    95 % bootstrap interval over the cells (percentiles of resampled fits)."""
    fit = fixed_cost_fit(points)
    if fit is None or not fit[1] > 0:
        return None
    import numpy as np

    def ceiling(fixed: float, ms: float) -> float:
        return (CEILING_BUSY * 100.0 - fixed) / (ms / 10.0) if ms > 0 else math.nan

    rng = np.random.default_rng(0)  # the same points give the same interval
    found = []
    for _ in range(BOOTSTRAP):
        pick = [points[i] for i in rng.integers(0, len(points), len(points))]
        again = fixed_cost_fit(pick)
        if again is not None:
            found.append(ceiling(*again))
    values = np.array([v for v in found if math.isfinite(v)])
    if len(values) < BOOTSTRAP / 2:
        return None
    lo, hi = np.percentile(values, [2.5, 97.5])
    return ceiling(*fit), Interval(float(lo), float(hi))


def _ci(e: Estimate) -> Interval:
    return Interval(e.low, e.high) if e.n >= 2 else Interval()


class Ceiling(NamedTuple):
    """The ceiling calibration.json gives, how it was found, and the cross-check that goes
    with that way."""

    rps: float
    ci: Interval
    method: str  # "fit" or "per-request"
    predicted_ms: float  # the fit's cost for the ordinary cell (NaN: per-request)
    check_rps: float  # the ordinary cell's own ceiling
    gap_pct: float  # how far the ordinary cell is from what the ceiling's way says


def _ceiling(
    acc: Rounds,
    simple: float,
    simple_ci: Interval,
    fit: tuple[float, float] | None,
    fitted: tuple[float, Interval] | None,
) -> Ceiling:
    """The fixed-cost fit's ceiling where the cells' req/s differed enough to make one, else
    `simple`, 90 % over the ceiling cells' cost per request (which a slow server biases
    low)."""
    usable = (
        fitted is not None and (fitted[1].high - fitted[1].low) / 2 <= FIT_CI_PCT / 100 * fitted[0]
    )
    if usable and fitted is not None and fit is not None:
        predicted = fit[1] + fit[0] * 10.0 / acc.check_rps.mean
        gap = (acc.check.mean / predicted - 1) * 100
        return Ceiling(
            fitted[0], fitted[1], "fit", predicted, CEILING_BUSY * 1000.0 / predicted, gap
        )
    check_ceiling = CEILING_BUSY * 1000.0 / acc.check.mean
    gap = (check_ceiling / simple - 1) * 100
    return Ceiling(simple, simple_ci, "per-request", math.nan, check_ceiling, gap)


def result_of(
    acc: Rounds, pairs: Estimate, workers: int, rate: float, placement: str = "split"
) -> Calibration:
    """calibration.json. The ceiling is the fixed-cost fit's where the cells' req/s differed
    enough to make one (ceiling_method "fit"), else 90 % over the ceiling cells' cost per
    request ("per-request", which a slow server biases low); the cross-check is then the fit's
    prediction of the ordinary cell's cost."""
    simple = CEILING_BUSY * 1000.0 / acc.cost.mean
    cost_ci = _ci(acc.cost)
    simple_ci = Interval(CEILING_BUSY * 1000.0 / cost_ci.high, CEILING_BUSY * 1000.0 / cost_ci.low)
    fitted = fit_ceiling(acc.points)
    fit = fixed_cost_fit(acc.points)
    ceiling = _ceiling(acc, simple, simple_ci, fit, fitted)
    return Calibration(
        measured_at=time.time(),
        server="multiprocess /hello",
        method="cells",
        users=USERS,
        workers=workers,
        rps_per_worker=acc.rps.mean,
        cpu_pct_per_worker=acc.cpu.mean,
        loadgen_core_pct=acc.busy.mean,
        cpu_ms_per_req=acc.cost.mean,
        cpu_ms_per_req_ci=cost_ci,
        cpu_ms_per_req_samples=acc.cost.values,
        ceiling_rps_per_worker=ceiling.rps,
        ceiling_ci=ceiling.ci,
        ceiling_method=ceiling.method,
        ceiling_per_request_rps=simple,
        ceiling_per_request_ci=simple_ci,
        repeats=acc.cost.n,
        target_ci_pct=TARGET_CI_PCT,
        converged=acc.cost.narrow(TARGET_CI_PCT),
        check_cell=f"coroutine /hello {CHECK_USERS} users",
        check_cpu_ms_per_req=acc.check.mean,
        check_cpu_ms_per_req_ci=_ci(acc.check),
        check_rps=acc.check_rps.mean,
        check_predicted_ms_per_req=ceiling.predicted_ms,
        check_ceiling_rps=ceiling.check_rps,
        check_gap_pct=ceiling.gap_pct,
        check_agrees=abs(ceiling.gap_pct) <= CHECK_PCT,
        listener_rate=rate,
        listener_overhead_pct=pairs.mean,
        listener_overhead_ci=_ci(pairs),
        listener_pairs=pairs.n,
        skipped=tuple(acc.skipped),
        fixed_cpu_pct=fit[0] if fit is not None else math.nan,
        marginal_ms_per_req=fit[1] if fit is not None else math.nan,
        ceiling_fit_rps=fitted[0] if fitted is not None else math.nan,
        ceiling_fit_ci=fitted[1] if fitted is not None else Interval(),
        rps_per_worker_at_n=acc.at_n.mean if workers > 1 else math.nan,
        cpu_pct_per_worker_at_n=acc.at_n_cpu.mean if workers > 1 else math.nan,
        wrk_rps=acc.wrk.mean if acc.wrk.n else math.nan,
        wrk_ci=_ci(acc.wrk),
        harness_rps=acc.rps.mean if acc.wrk.n else math.nan,
        harness_wrk_ratio=acc.ratio.mean if acc.wrk.n else math.nan,
        harness_wrk_ratio_ci=_ci(acc.ratio),
        cells_at_generator_limit=acc.at_limit,
        placement=placement,
        server_cpu_ms_per_req=acc.server.mean,
        server_cpu_ms_per_req_ci=_ci(acc.server),
        headroom_ratio=acc.headroom.mean,
        headroom_ratio_ci=_ci(acc.headroom),
        ws_cell=(
            f"coroutine ws-feed {WS_CONNECTIONS} connections, a {WS_BYTES}-byte message every "
            f"{WS_INTERVAL_MS} ms"
            if acc.ws_gen.n
            else ""
        ),
        ws_messages_per_s=acc.ws_rate.mean,
        ws_cpu_ms_per_msg=acc.ws_gen.mean,
        ws_cpu_ms_per_msg_ci=_ci(acc.ws_gen),
        ws_server_ms_per_msg=acc.ws_server.mean,
        ws_server_ms_per_msg_ci=_ci(acc.ws_server),
        ws_headroom_ratio=acc.ws_headroom.mean,
        ws_headroom_ratio_ci=_ci(acc.ws_headroom),
    )


def _figure(value: float, ci: Interval, digits: int = 0, unit: str = "") -> str:
    inner = f" [{ci.low:,.{digits}f}, {ci.high:,.{digits}f}]" if ci.known else ""
    return f"{value:,.{digits}f}{unit}{inner}"


def _check_line(result: Calibration, fit: bool) -> str:
    """The cross-check: the ordinary cell's cost against the fit's prediction (the fit's
    ceiling), or its own ceiling against the calibrated one."""
    cost = _figure(result.check_cpu_ms_per_req, result.check_cpu_ms_per_req_ci, 3)
    said = "(agrees within 10%)" if result.check_agrees else "(DISAGREES: more than 10%)"
    if fit:
        return (
            f"cross-check: {result.check_cell} at {result.check_rps:,.0f} req/s: "
            f"{cost} ms/req measured, {result.check_predicted_ms_per_req:.3f} by the fit, "
            f"{result.check_gap_pct:+.0f}% {said}"
        )
    return (
        f"cross-check: {result.check_cell}: {cost} ms/req, a ceiling of "
        f"{result.check_ceiling_rps:,.0f} req/s, {result.check_gap_pct:+.0f}% from the "
        f"calibrated one {said}"
    )


def summary_lines(result: Calibration) -> list[str]:
    """What calibrate prints: each figure with its 95 % interval and how many repeats."""
    n, target = result.repeats, result.target_ci_pct
    reached = (
        f"interval within ±{target:g}% after {n} repeats"
        if result.converged
        else f"interval still wider than ±{target:g}% after {n} repeats: the machine was not steady"
    )
    fit = result.ceiling_method == "fit"
    how = (
        f"fixed-cost fit: CPU ≈ {result.fixed_cpu_pct:.1f}% + "
        f"{result.marginal_ms_per_req:.3f} ms × req/s"
        if fit
        else "90% over the cost per request"
    )
    lines = [
        f"ceiling: {_figure(result.ceiling_rps_per_worker, result.ceiling_ci)} req/s per "
        f"Locust worker at 90% CPU (95% CI; {how})",
        f"  generator cost {_figure(result.cpu_ms_per_req, result.cpu_ms_per_req_ci, 3)} "
        f"ms/req at {result.rps_per_worker:,.0f} req/s, {result.loadgen_core_pct:.0f}% of "
        f"its core ({reached}); 90% over it alone: "
        f"{_figure(result.ceiling_per_request_rps, result.ceiling_per_request_ci)} req/s",
    ]
    if result.cells_at_generator_limit:
        lines.append(
            f"  {result.cells_at_generator_limit} of its cells had the generator's cores above "
            "a run's 90% limit (a run calls those invalid); counted: the generator at its limit "
            "is what calibrate measures"
        )
    lines.append(_check_line(result, fit))
    lines += headroom_lines(result)
    lines.append(
        f"recorder cost: {_figure(result.listener_overhead_pct, result.listener_overhead_ci, 1)}"
        f"% CPU per request ({result.listener_pairs} pairs at {result.listener_rate} req/s)"
    )
    if not fit and result.has_fit:
        lines.append(
            f"  (fixed-cost fit over these cells: CPU ≈ {result.fixed_cpu_pct:.1f}% + "
            f"{result.marginal_ms_per_req:.3f} ms × req/s, a ceiling of "
            f"{_figure(result.ceiling_fit_rps, result.ceiling_fit_ci)}: too uncertain to "
            "use, their req/s varied too little)"
        )
    if result.workers > 1:
        lines.append(
            f"{result.workers} workers: {result.rps_per_worker_at_n:.0f} req/s each at "
            f"{result.cpu_pct_per_worker_at_n:.0f}% CPU"
        )
    if result.has_wrk:
        lines.append(
            f"wrk: {_figure(result.wrk_rps, result.wrk_ci)} req/s; harness/wrk "
            f"{_figure(result.harness_wrk_ratio, result.harness_wrk_ratio_ci, 2)} "
            f"(the ceiling cells' own req/s, {result.users} connections each)"
        )
    else:
        lines.append("wrk: not installed (apt-get install wrk), no comparison")
    return lines


def headroom_lines(result: Calibration) -> list[str]:
    """The generator's CPU per request and per WebSocket message beside the server's, in the
    same cells, and the headroom that follows (none for an older calibration)."""
    if not result.has_headroom:
        return []
    lines = [
        f"headroom per /hello request ({result.check_cell}, {result.placement} placement): "
        f"generator {_figure(result.check_cpu_ms_per_req, result.check_cpu_ms_per_req_ci, 3)} "
        f"ms, server {_figure(result.server_cpu_ms_per_req, result.server_cpu_ms_per_req_ci, 3)}"
        f" ms: the server spends "
        f"{_figure(result.headroom_ratio, result.headroom_ratio_ci, 2)}x the generator's CPU"
    ]
    if math.isfinite(result.ws_headroom_ratio):
        lines.append(
            f"headroom per WebSocket message ({result.ws_cell}, "
            f"{result.ws_messages_per_s:,.0f} messages/s): generator "
            f"{_figure(result.ws_cpu_ms_per_msg * 1000, _scaled(result.ws_cpu_ms_per_msg_ci), 1)}"
            f" µs, server "
            f"{_figure(result.ws_server_ms_per_msg * 1000, _scaled(result.ws_server_ms_per_msg_ci), 1)}"
            f" µs: {_figure(result.ws_headroom_ratio, result.ws_headroom_ratio_ci, 2)}x"
        )
    return lines


def _scaled(ci: Interval, by: float = 1000.0) -> Interval:
    return Interval(ci.low * by, ci.high * by) if ci.known else ci


# Below this headroom (server CPU per request ÷ the generator's) a cell's req/s says as much
# about the generator as about the server: the generator then needs over half the server's
# CPU, and on a machine where each has one core, it saturates first.
HEADROOM_MIN = 2.0


def header_line(result: Calibration, placement: str) -> str:
    """The run's header: the headroom this machine's calibration measured, for the run's
    placement (a calibration made with another placement is said to be)."""
    if not result.has_headroom:
        return (
            "generator headroom: not calibrated here (run_bench.py calibrate --out "
            "<this results folder>: the generator's CPU per request beside the server's)"
        )
    when = time.strftime("%Y-%m-%d", time.localtime(result.measured_at))
    text = (
        f"generator headroom: a /hello request costs the server "
        f"{_figure(result.headroom_ratio, result.headroom_ratio_ci, 1)}x the generator's CPU "
        f"({result.server_cpu_ms_per_req:.3f} vs {result.check_cpu_ms_per_req:.3f} ms"
    )
    if math.isfinite(result.ws_headroom_ratio):
        text += f"; a WebSocket message {result.ws_headroom_ratio:.1f}x"
    text += f"; calibrated {when}"
    if result.placement and result.placement != placement:
        text += f" with {result.placement} placement, this run is {placement}"
    text += ")"
    if result.headroom_ratio < HEADROOM_MIN:
        text += f": under {HEADROOM_MIN:g}x, the generator may limit the fastest cells"
    return text
