"""Names and versions of the results format (DESIGN.md, "Results layout").

Columns are only ever appended, with a version bump; every version listed in READABLE_VERSIONS
keeps loading (a reader fills columns an older run lacks)."""

from __future__ import annotations

# 2: summary.csv gained rps_ci_low .. loadgen_cpu_ms_per_req; cell.json optional fields
# loadgen_cpu_total_pct, loadgen_core_pct, server_shares; run.json speed.
# 3: open loop: request rows gained intended_start; a cell may have a rate; summary.csv gained
# offered_rps .. late_pct.
# 4: records streamed while the load runs (record/stream.py), so request files are in
# completion batches, not sorted; request rows gained ttfb_ms; cell.json gained records,
# locust_requests, loadgen_workers and notes; run.json calibration; summary.csv gained
# ttfb_p50_ms .. ceiling_pct.
# 5: cell.json gained server_rss_idle_bytes and server_rss_peak_bytes; summary.csv gained
# upload_kb_in_flight.
SCHEMA_VERSION = 5
READABLE_VERSIONS = (1, 2, 3, 4, 5)

# One row per request in requests.parquet / outside.parquet. `start` is epoch seconds when the
# request was sent, `latency_ms` the time to its last byte; `intended_start` (schema 3) is the
# request's slot in an open-loop schedule (NaN in a closed loop, and in older runs);
# `ttfb_ms` (schema 4) the time to the first byte of the body where the scenario measures it
# (a streamed response), else NaN. `worker` is the Locust worker's index (0 without workers).
REQUEST_COLUMNS = (
    "start",
    "latency_ms",
    "endpoint",
    "status",
    "bytes",
    "ok",
    "worker",
    "intended_start",
    "ttfb_ms",
)

# summary.csv, in this order.
SUMMARY_COLUMNS = (
    "run_id",
    "cell_id",
    "variant",
    "loop",
    "processes",
    "scenario",
    "users",
    "repeat",
    "status",
    "duration_s",
    "requests",
    "failures",
    "error_rate",
    "rps",
    "mean_ms",
    "p50_ms",
    "p90_ms",
    "p95_ms",
    "p99_ms",
    "p999_ms",
    "max_ms",
    "expected_rps",
    "efficiency",
    "server_cpu_pct",
    "loadgen_cpu_pct",
    "valid",
    "notes",
    # schema 2: how precisely req/s is known (analysis/precision.py) and what a request costs
    "rps_ci_low",
    "rps_ci_high",
    "cv_pct",
    "stable",
    "server_cpu_ms_per_req",
    "loadgen_cpu_ms_per_req",
    # schema 3: open loop (empty for closed-loop cells)
    "offered_rps",
    "achieved_rps",
    "p50_corrected_ms",
    "p99_corrected_ms",
    "p999_corrected_ms",
    "late_pct",
    # schema 4: time to first byte (streamed responses), counts reconciled with Locust's own,
    # the load generator's workers and the busiest one's CPU, and the cell's req/s as a
    # percentage of the calibrated generator ceiling (empty without a calibration)
    "ttfb_p50_ms",
    "ttfb_p99_ms",
    "records",
    "locust_requests",
    "loadgen_workers",
    "worker_cpu_max_pct",
    "ceiling_pct",
    # schema 5: upload cells' peak server RSS above idle, KiB per upload in flight
    "upload_kb_in_flight",
)


def request_arrow_schema():  # type: ignore[no-untyped-def]
    """The Parquet schema of request rows (pyarrow imported only by those who write them)."""
    import pyarrow as pa

    return pa.schema(
        [
            ("start", pa.float64()),
            ("latency_ms", pa.float64()),
            ("endpoint", pa.string()),
            ("status", pa.int32()),
            ("bytes", pa.int64()),
            ("ok", pa.bool_()),
            ("worker", pa.int32()),
            ("intended_start", pa.float64()),
            ("ttfb_ms", pa.float64()),
        ]
    )


def scenario_label(name: str, params: dict[str, int]) -> str:
    """A readable, unique name for a scenario with its parameters, e.g. fanout-ms50-n4."""
    return "-".join([name, *(f"{k}{v}" for k, v in sorted(params.items()))])
