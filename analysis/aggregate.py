"""Pure DataFrame → DataFrame functions: no I/O, no plotting.

A run is summarised cell by cell: `summarize_requests` asks for one cell's window requests at
a time (a reader handed in by the caller, load.RunData.cell_requests for a run on disk), takes
its row of statistics (cellstats.py: exact nearest-rank percentiles) and lets the frame go, so
the memory the summary needs follows the largest cell, not the run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pandas as pd

from analysis import connections, model, openloop, precision, validity
from analysis.cellstats import REQUEST_STATS, STAT_COLUMNS, request_stats
from catalog import strategies, workloads
from record import schema
from record.records import MEASURED_STATUSES

SUMMARY_COLUMNS = list(schema.SUMMARY_COLUMNS)
CV_LIMIT = 0.10  # repeats whose req/s varies more than this are flagged unstable
# A cell whose requests send at least this much body each on average is an upload cell (its
# upload_kb_in_flight is given): a smaller body is read from the socket buffer at once and
# never sits in the server's memory long enough for the RSS to show it.
UPLOAD_KB = 64.0

# cell id, columns wanted → that cell's window requests with (at least) those columns.
RequestsOf = Callable[[str, Sequence[str]], pd.DataFrame]
# cell id → an open-loop cell's slots (record/stream.py writes them), or None.
SlotsOf = Callable[[str], "pd.DataFrame | None"]


def cpu_s_per_request(cpu_pct: Any, rps: Any) -> Any:
    """CPU seconds per request by the utilization law, S = U / X: the busy fraction (cpu_pct
    of one core, over 100) divided by the throughput. NaN where nothing was served."""
    return cpu_pct / 100.0 / rps


def summarize_requests(
    requests: RequestsOf, cells: pd.DataFrame, slots: SlotsOf | None = None
) -> pd.DataFrame:
    """One row of request statistics per cell (cellstats.REQUEST_STATS), reading one cell's
    requests at a time; `cells` has cell_id and window (record.window.Window)."""
    rows = []
    for cell in cells.itertuples(index=False):
        reqs = requests(cell.cell_id, STAT_COLUMNS)
        cell_slots = slots(cell.cell_id) if slots is not None else None
        rows.append(request_stats(cell.cell_id, cell.window, reqs, cell_slots))
        del reqs, cell_slots  # one cell's rows at a time
    return pd.DataFrame(rows, columns=REQUEST_STATS)


def service_times(summary: pd.DataFrame) -> dict[tuple[str, str], float]:
    """CPU service demand (s per request) of each CPU scenario per loop, measured by the suite
    itself with the utilization law, S = server CPU busy fraction / throughput, taking the
    smallest demand any cell of that scenario showed: the tightest bound the run supports.
    (The lowest-load cell alone overstates S by up to ~10 % here: under load Tornado serves
    several requests per event-loop wake-up and per-request overhead shrinks.)
    Without CPU samples, the lowest-load cell's median latency stands in (it includes the
    client's share, so it overstates S)."""
    out: dict[tuple[str, str], float] = {}
    measured = summary["status"].isin(MEASURED_STATUSES) & (summary["rps"] > 0)
    ok = summary[measured & summary["scenario_name"].map(workloads.is_cpu).astype(bool)]
    for (label, loop), group in ok.groupby(["scenario", "loop"]):
        demand = cpu_s_per_request(group["server_cpu_pct"], group["rps"]).where(lambda d: d > 0)
        best = demand.min()
        if not (pd.notna(best) and best > 0):
            lowest = group[group["users"] == group["users"].min()]
            best = lowest["p50_ms"].min() / 1000.0
        if pd.notna(best) and best > 0:
            out[(label, loop)] = float(best)
    return out


def wait_demands(summary: pd.DataFrame) -> dict[tuple[str, str, str], float]:
    """CPU demand per request of each variant on each wait scenario (utilization law, smallest
    over its cells): how the variant's own bookkeeping caps it once the CPU saturates."""
    out: dict[tuple[str, str, str], float] = {}
    measured = summary["status"].isin(MEASURED_STATUSES) & (summary["rps"] > 0)
    ok = summary[measured & summary["scenario_name"].map(workloads.is_wait).astype(bool)]
    for key, group in ok.groupby(["variant", "scenario", "loop"]):
        demand = cpu_s_per_request(group["server_cpu_pct"], group["rps"])
        demand = demand.where(lambda d: d > 0).min()
        if pd.notna(demand):
            out[key] = float(demand)
    return out


def ipc_costs(summary: pd.DataFrame) -> dict[tuple[str, str, str], float]:
    """A process pool's round trip per request (s): on each CPU scenario per loop, its own
    CPU demand (smallest over its cells) above the scenario's S (service_times, the smallest
    any strategy showed). Pickling the call and its result and crossing the pipe both ways
    is CPU the other strategies do not spend; on /cpu?n=1 it is almost all there is."""
    services = service_times(summary)
    out: dict[tuple[str, str, str], float] = {}
    measured = summary["status"].isin(MEASURED_STATUSES) & (summary["rps"] > 0)
    pooled = summary["variant"].map(strategies.process_pool).astype(bool)
    cpu = summary["scenario_name"].map(workloads.is_cpu).astype(bool)
    ok = summary[measured & pooled & cpu]
    for (variant, label, loop), group in ok.groupby(["variant", "scenario", "loop"]):
        own = (group["server_cpu_pct"] / 100.0 / group["rps"]).where(lambda d: d > 0).min()
        service = services.get((label, loop))
        if pd.notna(own) and service is not None:
            out[(variant, label, loop)] = max(0.0, float(own) - service)
    return out


def add_model(summary: pd.DataFrame) -> pd.DataFrame:
    """expected_rps from the model and efficiency = rps / expected_rps for every cell.
    Needs columns variant, strategy, loop, scenario (label), scenario_name, params, users,
    threads, processes, cores, duration_s (the window)."""
    out = summary.copy()
    services = service_times(out)
    waits = wait_demands(out)
    ipc = ipc_costs(out)
    expected = []
    for row in out.itertuples(index=False):
        if workloads.is_wait(row.scenario_name):
            service = waits.get((row.variant, row.scenario, row.loop))
        else:
            service = services.get((row.scenario, row.loop))
            # A process pool's S: the work plus its measured round trip per request.
            extra = ipc.get((row.variant, row.scenario, row.loop))
            if service is not None and extra is not None:
                service += extra
        expected.append(
            model.expected_rps(
                strategy=row.strategy,
                scenario=row.scenario_name,
                params=row.params,
                users=int(row.users),
                threads=int(row.threads),
                processes=int(row.processes),
                cores=int(row.cores),
                service_s=service,
                window_s=float(getattr(row, "duration_s", math.nan)),
            )
        )
    out["expected_rps"] = expected
    out["efficiency"] = out["rps"] / out["expected_rps"]
    # A user's app has no bound, but the utilization law gives what its CPU would allow,
    # from the cell's own CPU per request (in memory only: summary.csv's columns are fixed).
    demand = cpu_s_per_request(out["server_cpu_pct"], out["rps"].where(out["rps"] > 0))
    out["cpu_capacity_rps"] = [
        model.cpu_capacity_rps(strategy=v, processes=int(p), cores=int(c), service_s=float(s))
        for v, p, c, s in zip(out["strategy"], out["processes"], out["cores"], demand, strict=True)
    ]
    return out


def repeat_groups(summary: pd.DataFrame, keys: Iterable[str] | None = None) -> pd.DataFrame:
    """Mean and 95 % confidence interval of req/s and p99 across repeats of each cell family
    (valid cells only), with a flag when the coefficient of variation exceeds CV_LIMIT."""
    keys = list(keys or ["variant", "loop", "scenario", "users"])
    rows = []
    valid = summary[summary["valid"]]
    for key, group in valid.groupby(keys, sort=True):
        n = len(group)
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        row["repeats"] = n
        for col in ("rps", "p99_ms"):
            values = group[col].astype(float).to_numpy()
            mean = float(values.mean())
            half = (
                precision.t_critical_95(n - 1) * float(values.std(ddof=1)) / math.sqrt(n)
                if n > 1
                else math.nan
            )
            row[f"{col}_mean"] = mean
            row[f"{col}_ci95"] = half
            if col == "rps":
                cv = float(values.std(ddof=1)) / mean if n > 1 and mean else math.nan
                row["rps_cv"] = cv
                row["unstable"] = bool(pd.notna(cv) and cv > CV_LIMIT)
        rows.append(row)
    return pd.DataFrame(rows)


def families(summary: pd.DataFrame) -> list[tuple[str, str]]:
    """(scenario, loop) pairs that measured anything, sorted: one chart panel each."""
    measured = summary[summary["requests"] > 0]
    return sorted({(r.scenario, r.loop) for r in measured.itertuples()})


def family(summary: pd.DataFrame, scenario: str, loop: str) -> pd.DataFrame:
    """The measured cells of one scenario on one loop."""
    return summary[
        (summary["scenario"] == scenario) & (summary["loop"] == loop) & (summary["requests"] > 0)
    ]


def spectrum_cells(summary: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """For each scenario family, the cells at the highest load level every variant reached
    (first repeat): the cells whose latency spectrum and time series are drawn."""
    out = {}
    for scenario, loop in families(summary):
        fam = family(summary, scenario, loop)
        common = set.intersection(*(set(g["users"]) for _, g in fam.groupby("variant")))
        users = max(common) if common else fam["users"].max()
        out[(scenario, loop)] = fam[
            (fam["users"] == users) & (fam["repeat"] == fam["repeat"].min())
        ]
    return out


def with_request_stats(
    cells: pd.DataFrame, requests: RequestsOf, slots: SlotsOf | None = None
) -> pd.DataFrame:
    """Cell rows (load.cell_row) joined with their request statistics, read one cell at a
    time through `requests`; unmeasured cells get zero requests (and are never read)."""
    measured = cells[cells["window"].notna()]
    return joined_stats(cells, summarize_requests(requests, measured, slots))


def joined_stats(cells: pd.DataFrame, stats: pd.DataFrame) -> pd.DataFrame:
    """Cell rows joined with the request statistics (REQUEST_STATS) of those measured;
    the others get zero requests."""
    merged = cells.merge(stats, on="cell_id", how="left")
    merged["duration_s"] = merged["duration_s"].fillna(0.0)
    merged["requests"] = merged["requests"].fillna(0).astype(int)
    merged["failures"] = merged["failures"].fillna(0).astype(int)
    return merged


def cost_per_request(summary: pd.DataFrame) -> pd.DataFrame:
    """CPU milliseconds per request (utilization law: busy fraction ÷ throughput), for the
    server (all its processes) and the load generator (all Locust processes). A server's cost
    stays a valid comparison when the generator, not the server, limited the throughput."""
    out = summary.copy()
    rps = out["rps"].where(out["rps"] > 0)
    out["server_cpu_ms_per_req"] = cpu_s_per_request(out["server_cpu_pct"], rps) * 1000.0
    total = (
        out["loadgen_cpu_total_pct"] if "loadgen_cpu_total_pct" in out else out["loadgen_cpu_pct"]
    )
    out["loadgen_cpu_ms_per_req"] = cpu_s_per_request(total, rps) * 1000.0
    return out


def add_ceiling(summary: pd.DataFrame) -> pd.DataFrame:
    """ceiling_pct: the cell's req/s as a percentage of the calibrated generator ceiling of
    its Locust processes (load.cell_row: ceiling_rps); NaN without a calibration."""
    out = summary.copy()
    ceiling = out["ceiling_rps"] if "ceiling_rps" in out else pd.Series(math.nan, out.index)
    out["ceiling_pct"] = out["rps"] / ceiling.where(ceiling > 0) * 100.0
    return out


def add_upload_memory(summary: pd.DataFrame) -> pd.DataFrame:
    """upload_kb_in_flight: the server's peak RSS in the window above its idle RSS, in KiB
    per upload in flight (a closed loop keeps one per user; an open loop at most its
    max_in_flight, its `users`). Buffered bodies grow it with the body size; streamed ones
    keep it near a chunk. NaN for other scenarios and where RSS was not sampled."""
    out = summary.copy()
    if "server_rss_peak_bytes" not in out:
        out["upload_kb_in_flight"] = math.nan
        return out
    above = (out["server_rss_peak_bytes"] - out["server_rss_idle_bytes"]).clip(lower=0)
    per = above / 1024.0 / out["users"].where(out["users"] > 0)
    # Scenarios whose requests carry a body the server may hold: the column is theirs, and
    # any cell's (a user's file) whose records say they sent uploads.
    body = out["scenario_name"].map(lambda s: workloads.uploads(str(s))).astype(bool)
    if "kb_sent_per_request" in out:
        body |= out["kb_sent_per_request"].fillna(0.0) >= UPLOAD_KB
    out["upload_kb_in_flight"] = per.where(body)
    return out


def judged(merged: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """The model's bound, efficiency, the one validity rule, precision and cost per request
    over cells with their stats."""
    out = validity.apply(add_ceiling(openloop.add_open_loop(add_model(merged))))
    out = add_upload_memory(out)
    out = connections.add_derived(cost_per_request(precision.across_repeats(out)))
    out.insert(0, "run_id", run_id)
    return out


def build_summary(
    cells: pd.DataFrame, requests: RequestsOf, run_id: str, slots: SlotsOf | None = None
) -> pd.DataFrame:
    """Everything about every cell: request statistics from the raw window data (read cell by
    cell through `requests`, e.g. load.RunData.cell_requests), the model's bound, efficiency
    and validity. summary.csv is this frame's SUMMARY_COLUMNS."""
    if cells.empty:
        return pd.DataFrame(columns=[*SUMMARY_COLUMNS, "reason", "scenario_name"])
    return judged(with_request_stats(cells, requests, slots), run_id)


def summary_of(cells: pd.DataFrame, stats: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """build_summary from request statistics already taken (the report's one pass over each
    cell's rows, analysis/cellpass.py): one row of REQUEST_STATS per measured cell."""
    if cells.empty:
        return pd.DataFrame(columns=[*SUMMARY_COLUMNS, "reason", "scenario_name"])
    return judged(joined_stats(cells, stats), run_id)


RANKING_COLUMNS = [
    "scenario",
    "loop",
    "rank",
    "variant",
    "rps",
    "users",
    "vs_best",
    "rps_ci_low",
    "rps_ci_high",
    "generator_limited",
]


def _best_configurations(valid: pd.DataFrame) -> pd.DataFrame:
    """Each variant's best load level per (scenario, loop): its repeats' mean req/s and the
    interval of that mean (analysis/precision.py)."""
    keys = ["scenario", "loop", "variant", "users"]
    configs = valid.groupby(keys, as_index=False).agg(
        rps=("rps", "mean"),
        rps_ci_low=("rps_ci_low", "min"),
        rps_ci_high=("rps_ci_high", "max"),
        generator_limited=("generator_limited", "any"),
    )
    best = configs.loc[configs.groupby(["scenario", "loop", "variant"])["rps"].idxmax()]
    return best.reset_index(drop=True)


def ranking(summary: pd.DataFrame) -> pd.DataFrame:
    """Per scenario (and loop): variants ordered by their best valid req/s, with the ratio to
    the best. Variants the data cannot separate share a rank: a variant takes the next rank
    only when its 95 % interval does not overlap that of the leader of the rank above. A
    generator-limited figure is a lower bound, so nothing below can be separated from it.
    Invalid and failed cells never rank."""
    # A contended cell's figures may be the machine's (analysis/validity.py): never ranked.
    # Open-loop cells are ranked by the rate they sustain (openloop.py).
    valid = summary[
        summary["valid"]
        & summary["rps"].notna()
        & ~summary["contended"].astype(bool)
        & ~summary["open_loop"].astype(bool)
    ]
    if valid.empty:
        return pd.DataFrame(columns=RANKING_COLUMNS)
    if "generator_limited" not in valid:
        valid = valid.assign(generator_limited=False)
    for col in ("rps_ci_low", "rps_ci_high"):
        if col not in valid:
            valid = valid.assign(**{col: math.nan})
    rows = []
    best = _best_configurations(valid)
    for (_scenario, _loop), group in best.groupby(["scenario", "loop"], sort=True):
        group = group.sort_values("rps", ascending=False)
        top = float(group["rps"].iloc[0])
        rank, leader = 1, None
        for row in group.itertuples(index=False):
            ci = (row.rps_ci_low, math.inf if row.generator_limited else row.rps_ci_high)
            if leader is not None and precision.separated(leader, ci):
                rank, leader = rank + 1, ci
            leader = leader or ci
            rows.append(
                {**row._asdict(), "rank": rank, "vs_best": row.rps / top if top else math.nan}
            )
    return pd.DataFrame(rows)[RANKING_COLUMNS]
