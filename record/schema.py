"""Names and versions of the results format (README, "Results"; the paths: record/layout.py).

Columns are only ever appended, with a version bump; every version listed in READABLE_VERSIONS
keeps loading (a reader fills columns an older run lacks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# 2: summary.csv gained rps_ci_low .. loadgen_cpu_ms_per_req; cell.json optional fields
# loadgen_cpu_total_pct, loadgen_core_pct, server_shares; run.json speed.
# 3: open loop: request rows gained intended_start; a cell may have a rate; summary.csv gained
# offered_rps .. late_pct.
# 4: records streamed while the load runs (record/stream.py), so request files are in
# completion batches, not sorted; request rows gained ttfb_ms; cell.json gained records,
# locust_requests, loadgen_workers and notes; run.json calibration; summary.csv gained
# ttfb_p50_ms .. ceiling_pct.
# 5: long-lived connections: a cell may have connections.json and connections.csv;
# summary.csv gained connections_target .. polls_waiting_max.
# 6: cell.json gained server_rss_idle_bytes and server_rss_peak_bytes; summary.csv gained
# upload_kb_in_flight.
# 7: request rows gained request_type (Locust's: "GET", "POST", "WS" for a WebSocket message
# or handshake; null in older runs).
# 8: cell.json's cell names its strategy "strategy" (was "variant": the variant is the strategy
# with its options), and cell.json gained foreign_cpu_server_pct/_generator_pct; run.json's
# speed is {before_s, after_s} (was {start_s, end_s}), its calibration the whole
# calibration.json; summary.csv gained strategy, options, open_loop and config_id (the
# configuration as columns: nothing parses them back out of cell_id), and foreign_cpu_server
# .. unanswered_pct.
# 9: request rows gained bytes_sent (a request's body bytes, where the request or its context
# says them; NaN otherwise and in older runs); a run folder gained endpoints.csv; summary.csv
# gained kb_sent_per_request; connections.json (now for any cell whose records hold
# connections or polls) gained delivery_p50_ms and delivery_p99_ms.
SCHEMA_VERSION = 9
READABLE_VERSIONS = (1, 2, 3, 4, 5, 6, 7, 8, 9)


# One row per request in requests.parquet / outside.parquet. `start` is epoch seconds when the
# request was sent, `latency_ms` the time to its last byte; `intended_start` (schema 3) is the
# request's slot in an open-loop schedule (NaN in a closed loop, and in older runs);
# `ttfb_ms` (schema 4) the time to the first byte of the body where the scenario measures it
# (a streamed response), else NaN. `worker` is the Locust worker's index (0 without workers).
# `request_type` (schema 7) is the type Locust reported ("GET", "POST", "WS"); `bytes_sent`
# (schema 9) the request's body bytes (loadgen/recorder.py says where they come from).
@dataclass(frozen=True)
class RequestColumn:
    name: str
    arrow: str  # the pyarrow type's factory: float64, int32, int64, string, bool_
    # How the column travels in a batch from a Locust process (record/stream.py): an array
    # typecode, little-endian; "" when the writer fills it in (the worker's index).
    wire: str = ""


# The one table of request columns, in their order in the Parquet files. `endpoint` travels as
# an index into the batch's endpoint names, and `request_type` rides on the same index (one
# entry per distinct type and name).
REQUEST_TABLE = (
    RequestColumn("start", "float64", "d"),
    RequestColumn("latency_ms", "float64", "d"),
    RequestColumn("endpoint", "string", "i"),
    RequestColumn("status", "int32", "i"),
    RequestColumn("bytes", "int64", "q"),
    RequestColumn("ok", "bool_", "B"),
    RequestColumn("worker", "int32"),
    RequestColumn("intended_start", "float64", "d"),
    RequestColumn("ttfb_ms", "float64", "d"),
    RequestColumn("request_type", "string"),
    RequestColumn("bytes_sent", "float64", "d"),
)
REQUEST_COLUMNS = tuple(c.name for c in REQUEST_TABLE)

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
    # schema 5: long-lived connections (empty for other cells): the target and what the
    # servers' /health counted at the window's start and end, the handshakes, resident memory
    # before the first connection and with them held, per connection (server and Locust),
    # a feed's delivery latency, and the most long-polls waiting at once
    "connections_target",
    "connections_held",
    "connections_held_end",
    "connect_failures",
    "connect_p99_ms",
    "server_rss_before_mb",
    "server_rss_mb",
    "kb_per_connection",
    "locust_kb_per_connection",
    "delivery_p50_ms",
    "delivery_p99_ms",
    "polls_waiting_max",
    # schema 6: upload cells' peak server RSS above idle, KiB per upload in flight
    "upload_kb_in_flight",
    # schema 8: the configuration as columns: the variant's strategy (an app's name, or
    # "target"), its options joined by "+" ("" without), whether the cell offered an open
    # loop, and the cell id without its repeat
    "strategy",
    "options",
    "open_loop",
    "config_id",
    # schema 8: the machine around the cell (record.records.CellRecord): other processes'
    # share of the server's and the generator's cores in the window (%), whether that made
    # the cell contended (analysis/validity.py), how late the generator's own event loop
    # woke at its 99th percentile (loadgen/: its lag probe), and the share of an open loop's
    # slots still unanswered at the stop (counted as waiting until then)
    "foreign_cpu_server",
    "foreign_cpu_generator",
    "contended",
    "generator_lag_p99_ms",
    "unanswered_pct",
    # schema 8: the suite's [[environments]] entry that ran the cell's server ("" for the
    # harness's own)
    "environment",
    # schema 9: the mean request body in KiB, over the requests whose body size is known
    # (request rows' bytes_sent; empty where none is)
    "kb_sent_per_request",
)


def request_arrow_schema() -> Any:
    """The Parquet schema of request rows (pyarrow imported only by those who write them)."""
    import pyarrow as pa

    return pa.schema([(c.name, getattr(pa, c.arrow)()) for c in REQUEST_TABLE])


# A variant is its strategy and its options joined by this ("multiprocess+reuseport"), and
# in a suite of [[environments]] the environment after this ("coroutine@py312").
VARIANT_JOIN = "+"
ENVIRONMENT_MARK = "@"


def scenario_label(name: str, params: dict[str, int]) -> str:
    """A readable, unique name for a scenario with its parameters, e.g. fanout-ms50-n4."""
    return "-".join([name, *(f"{k}{v}" for k, v in sorted(params.items()))])


# The names of a results folder (record/layout.py makes the paths; docs/architecture.md and
# the README's "Results layout"): the run's record, summary, endpoints and report at the top, one folder
# per cell under cells/.
RUN_FILE = "run.json"
SUMMARY_FILE = "summary.csv"
ENDPOINTS_FILE = "endpoints.csv"  # one row per endpoint of each cell (analysis/endpoints.py)
REPORT_FILE = "report.html"
CHARTS_DIR = "charts"
CELLS_DIR = "cells"
# A cell's folder: its record, request rows completed inside the window and outside it, an
# open loop's slots, the Locust side's summary, the resource samples and, for a workload that
# keeps a backlog, its polls of /health; what a long-lived cell held; the latency log the
# report writes; each process's log ("<role>.log": server, backend, database, locust).
CELL_FILE = "cell.json"
CONNECTIONS_FILE = "connections.json"
CONNECTIONS_CSV = "connections.csv"
HLOG_FILE = "latency.hlog"
REQUESTS_FILE = "requests.parquet"
OUTSIDE_FILE = "outside.parquet"
SLOTS_FILE = "slots.parquet"
LOADGEN_FILE = "loadgen.json"
RESOURCES_FILE = "server_resources.csv"
BACKLOG_FILE = "backlog.csv"
# The start gate (loadgen/go.py): Locust starts while the harness verifies the servers and
# loads only once the harness creates this file in the cell's folder; it gives up after
# GO_WAIT_S (verification with verify_grace_s, a slow database all fit well within it).
GO_FILE = "go"
GO_WAIT_S = 120.0
# backlog.csv: one row per poll (t epoch seconds; the server's counts of background jobs; the
# pid of the process that answered, as a forking server's counts are its own).
BACKLOG_COLUMNS = ("t", "queued", "in_progress", "completed", "rejected", "pid")
# A cell's profile (record/profile.py, record/stacks.py; README, "Profiles"): how the server's
# time went over the window, py-spy's collapsed stacks of every thread at every tick (idle
# ones included) and of the thread holding the GIL, and both as one speedscope file.
PROFILE_FILE = "profile.json"
PROFILE_STACKS = {"wall": "profile-wall.txt", "gil": "profile-gil.txt"}
PROFILE_SPEEDSCOPE = "profile.speedscope.json"
