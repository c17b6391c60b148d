"""Every built-in workload (a scenario), one entry each: what kind of work it is and what
bounds it (the model), what it needs beside the server (the backend, a database, a polled
backlog), its parameters with their bounds and defaults (a suite's `params`), the request
paths it sends (verification checks them first) and its Locust file in scenarios/. No Tornado,
no Locust: importing this module starts nothing.

Nothing outside this module compares a scenario name as a string; it asks a fact instead (what
kind of work is it? does it need the backend or a database? does its server keep a backlog the
harness polls?). A new workload is one entry in WORKLOADS, its Locust file in scenarios/ and
its handlers in servers/.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from catalog import techempower
from catalog.db import DB_ROWS
from catalog.limits import (
    CPU_N_MAX,
    DB_POOL_MAX,
    DEFAULT_DB_POOL,
    FANOUT_N_MAX,
    FANOUT_TOTAL_MS_MAX,
    MS_MAX,
    STREAM_CHUNK_BYTES_MAX,
    STREAM_CHUNKS_MAX,
    STREAM_TOTAL_BYTES_MAX,
    STREAM_TOTAL_MS_MAX,
    UPLOAD_BYTES_MAX,
)
from catalog.live import (
    DEFAULT_FEED_BYTES,
    DEFAULT_INTERVAL_MS,
    DEFAULT_TIMEOUT_MS,
    FEED_BYTES_MAX,
    FEED_BYTES_MIN,
    INTERVAL_MS_MAX,
    INTERVAL_MS_MIN,
    TIMEOUT_MS_MAX,
    TIMEOUT_MS_MIN,
)
from catalog.paths import SCENARIO_DIR

# What bounds a workload's throughput (analysis/model.py):
CPU = "cpu"  # CPU in the server: the utilization law, X <= C / S, S measured by the suite
WAIT = "wait"  # a wait of `ms`: Little's law, X <= C / R_min, C the strategy's wait concurrency
# A wait that holds a database connection: C is also capped by the awaiting strategies' pool.
POOL_BOUND = "pool-bound"
NONE = "none"  # no bound the model can state (a mix, a write, background work, a stream)
KINDS = (CPU, WAIT, POOL_BOUND, NONE)

# Long-lived connections, one per user (servers/live.py): what a message is. A feed's server
# broadcasts one to every subscriber per interval; an echo answers each message a connection
# sends; a long-poll answers each waiting request at the next event or its timeout. Their
# bound is in messages (or answers) per second (analysis/model.py: live_bound).
LIVE_FEED = "feed"
LIVE_ECHO = "echo"
LIVE_POLL = "long-poll"
LIVES = (LIVE_FEED, LIVE_ECHO, LIVE_POLL)

Params = Mapping[str, int]


@dataclass(frozen=True)
class Param:
    """One parameter of a workload: its range and its value when a suite does not give it."""

    lo: int
    hi: int
    default: int


@dataclass(frozen=True)
class Workload:
    name: str
    kind: str  # one of KINDS
    summary: str
    # The request paths a cell sends (in the form the servers expect), from its parameters.
    paths: Callable[[Params], list[str]]
    params: Mapping[str, Param] = field(default_factory=dict)
    # The Locust file's stem in scenarios/ (the name when empty). Locust puts the file's
    # folder first on sys.path, so a file must not share a name with a standard module
    # (json.py would shadow json).
    module: str = ""
    needs_backend: bool = False  # the upstream backend is started beside the server
    # A PostgreSQL database: a throwaway one per cell (harness/processes/postgres.py), or --db-url.
    needs_db: bool = False
    # The server answers at once and keeps the work pending; the harness polls its backlog.
    polls_backlog: bool = False
    # The parameter holding how many upstream calls one request makes ("" when it makes one).
    fanout_param: str = ""
    # A long-lived workload: one of LIVES ("" for request → response). `connections` is the
    # cell's user count, opened at `spawn_rate` per second, and the window starts after that
    # ramp (harness/connections.py).
    live: str = ""
    # Requests carry a body the server reads buffered or streamed ([server] upload), and the
    # server's memory per request in flight is the figure (upload_kb_in_flight).
    uploads: bool = False
    # Constraints between the parameters, beyond each one's own range: why they are
    # violated (one line), or None.
    cross: Callable[[Params], str | None] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"workload {self.name}: kind {self.kind!r} is not one of {KINDS}")
        if self.live and self.live not in LIVES:
            raise ValueError(f"workload {self.name}: live {self.live!r} is not one of {LIVES}")

    @property
    def waits(self) -> bool:
        """Bound by a wait (Little's law) rather than by the server's CPU."""
        return self.kind in (WAIT, POOL_BOUND)

    def calls(self, params: Params) -> int:
        """Upstream calls one request makes (1 for a workload that does not fan out)."""
        return int(params[self.fanout_param]) if self.fanout_param else 1

    @property
    def locustfile(self) -> Path:
        return SCENARIO_DIR / f"{self.module or self.name}.py"

    def resolve(self, given: Params) -> dict[str, int]:
        """Defaults filled in; the caller has validated names and ranges already."""
        return {k: given.get(k, p.default) for k, p in self.params.items()}

    def param_problem(self, name: str, value: object) -> str | None:
        """The one check of a parameter given to this workload (a suite file, a stored run):
        why it is refused, in one line, or None."""
        p = self.params.get(name)
        if p is None:
            allowed = ", ".join(self.params) or "none"
            return f"unknown parameter for {self.name}; allowed: {allowed}"
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be an integer in {p.lo}..{p.hi}"
        if not p.lo <= value <= p.hi:
            return f"{value} is out of range; allowed {p.lo}..{p.hi}"
        return None

    def cross_check(self, params: Params) -> str | None:
        """Constraints between parameters; a message when they are violated."""
        return self.cross(params) if self.cross is not None else None


MS = Param(0, MS_MAX, 50)
CPU_N = Param(1, CPU_N_MAX, 20000)
# Long-lived workloads: how many connections a cell holds (each a Locust user; the harness
# refuses more than the open-file and port limits allow) and how many open per second (the
# default opens 10,000 in about 10 s).
CONNECTIONS = Param(1, 100_000, 200)
SPAWN_RATE = Param(1, 10_000, 1000)
INTERVAL = Param(INTERVAL_MS_MIN, INTERVAL_MS_MAX, DEFAULT_INTERVAL_MS)
FEED_BYTES = Param(FEED_BYTES_MIN, FEED_BYTES_MAX, DEFAULT_FEED_BYTES)
TIMEOUT = Param(TIMEOUT_MS_MIN, TIMEOUT_MS_MAX, DEFAULT_TIMEOUT_MS)
# `pool` is the awaiting strategies' connection pool (the server's --db-pool).
DB_POOL = Param(1, DB_POOL_MAX, DEFAULT_DB_POOL)
TE_QUERIES = Param(techempower.QUERIES_MIN, techempower.QUERIES_MAX, 20)  # TechEmpower's 1..500


def te_query_cases(path: str, n: int) -> list[str]:
    """The load's own ?queries=N and TechEmpower's verifier's cases (2, 0, foo, 501, empty,
    missing), which verification checks for the clamped number of rows."""
    cases = [f"{path}?queries={q}" for q in (n, 2, 0, "foo", 501, "")]
    return [*dict.fromkeys(cases), path]


def _fanout_total(p: Params) -> str | None:
    if p["n"] * p["ms"] > FANOUT_TOTAL_MS_MAX:
        return f"n*ms must be at most {FANOUT_TOTAL_MS_MAX}"
    return None


def _stream_total(p: Params) -> str | None:
    if p["chunks"] * p["bytes"] > STREAM_TOTAL_BYTES_MAX:
        return f"chunks*bytes must be at most {STREAM_TOTAL_BYTES_MAX}"
    if (p["chunks"] - 1) * p["ms"] > STREAM_TOTAL_MS_MAX:
        return f"(chunks-1)*ms must be at most {STREAM_TOTAL_MS_MAX}"
    return None


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload("hello", CPU, "GET /hello: framework overhead", lambda p: ["/hello"]),
        Workload(
            "json", CPU, "GET /json: serialization", lambda p: ["/json"], module="json_endpoint"
        ),
        Workload(
            "sleep",
            WAIT,
            "GET /sleep?ms: simulated I/O wait",
            lambda p: [f"/sleep?ms={p['ms']}"],
            {"ms": MS},
        ),
        Workload(
            "cpu",
            CPU,
            "GET /cpu?n: pure-Python CPU work",
            lambda p: [f"/cpu?n={p['n']}"],
            {"n": CPU_N},
        ),
        Workload(
            "upstream",
            WAIT,
            "GET /upstream?ms: one backend call",
            lambda p: [f"/upstream?ms={p['ms']}"],
            {"ms": MS},
            needs_backend=True,
        ),
        Workload(
            "fanout",
            WAIT,
            "GET /fanout?n&ms: n independent backend calls",
            lambda p: [f"/fanout?n={p['n']}&ms={p['ms']}"],
            {"n": Param(1, FANOUT_N_MAX, 4), "ms": MS},
            needs_backend=True,
            fanout_param="n",
            cross=_fanout_total,
        ),
        Workload(
            "mixed",
            NONE,
            "weighted mix: hello 4, json 3, sleep 2, cpu 1",
            lambda p: ["/hello", "/json", f"/sleep?ms={p['ms']}", f"/cpu?n={p['n']}"],
            {"ms": MS, "n": CPU_N},
        ),
        # n = 0 (the default): each job waits ms; n > 0: each job is n units of CPU work.
        Workload(
            "enqueue",
            NONE,
            "GET /enqueue?ms (or n): answered at once, the work done in the background",
            lambda p: [f"/enqueue?n={p['n']}" if p["n"] > 0 else f"/enqueue?ms={p['ms']}"],
            {"ms": MS, "n": Param(0, CPU_N_MAX, 0)},
            polls_backlog=True,
        ),
        # chunks and bytes reach Locust as --chunks/--bytes, declared by scenarios/stream.py.
        Workload(
            "stream",
            NONE,
            "GET /stream?chunks&bytes&ms: chunks flushed ms apart; time to first byte",
            lambda p: [f"/stream?chunks={p['chunks']}&bytes={p['bytes']}&ms={p['ms']}"],
            {
                "chunks": Param(1, STREAM_CHUNKS_MAX, 8),
                "bytes": Param(1, STREAM_CHUNK_BYTES_MAX, 4096),
                "ms": Param(0, MS_MAX, 20),
            },
            cross=_stream_total,
        ),
        # POST /upload: a body of `bytes` sent in pieces of `chunk` (chunked transfer), whose
        # length and SHA-256 the server answers; [server] upload says how it reads it. The
        # query is the verifier's (harness/verify.py POSTs a body of that size); the server
        # ignores it. No bound the model states.
        Workload(
            "upload",
            NONE,
            "POST /upload: a streamed request body, read buffered or streamed by the server",
            lambda p: [f"/upload?bytes={p['bytes']}&chunk={p['chunk']}"],
            {
                "bytes": Param(0, UPLOAD_BYTES_MAX, 1024 * 1024),
                "chunk": Param(1, UPLOAD_BYTES_MAX, 64 * 1024),
            },
            uploads=True,
        ),
        # /db?query=...: one workload per query, so that a suite names what it measures
        # (db-rows with n = 100) and a cell id carries only the parameters its query uses.
        Workload(
            "db-sleep",
            POOL_BOUND,
            "GET /db?query=sleep&ms: a wait inside PostgreSQL (pg_sleep)",
            lambda p: [f"/db?query=sleep&ms={p['ms']}"],
            {"ms": MS, "pool": DB_POOL},
            module="db_sleep",
            needs_db=True,
        ),
        # /db?query=rows is CPU in the server and is bound like /cpu.
        Workload(
            "db-rows",
            CPU,
            "GET /db?query=rows&n: n seeded rows, a join and ORDER BY",
            lambda p: [f"/db?query=rows&n={p['n']}"],
            {"n": Param(1, DB_ROWS, 100), "pool": DB_POOL},
            module="db_rows",
            needs_db=True,
        ),
        Workload(
            "db-write",
            NONE,
            "GET /db?query=write: one INSERT in a transaction",
            lambda p: ["/db?query=write"],
            {"pool": DB_POOL},
            module="db_write",
            needs_db=True,
        ),
        # TechEmpower's six test types (/te/..., servers/techempower.py), as its
        # FrameworkBenchmarks specifies them; `queries` is the N of queries and updates. They
        # are CPU in the server (bound like db-rows); te-updates, like db-write, has no bound
        # the model can state (the database's writes).
        Workload(
            "te-plaintext",
            CPU,
            "TechEmpower plaintext: GET /te/plaintext",
            lambda p: ["/te/plaintext"],
            module="te_plaintext",
        ),
        Workload(
            "te-json",
            CPU,
            "TechEmpower json: GET /te/json",
            lambda p: ["/te/json"],
            module="te_json",
        ),
        Workload(
            "te-db",
            CPU,
            "TechEmpower db: one random World row",
            lambda p: ["/te/db"],
            {"pool": DB_POOL},
            module="te_db",
            needs_db=True,
        ),
        Workload(
            "te-queries",
            CPU,
            "TechEmpower queries: N random World rows, a query each",
            lambda p: te_query_cases("/te/queries", p["queries"]),
            {"queries": TE_QUERIES, "pool": DB_POOL},
            module="te_queries",
            needs_db=True,
        ),
        Workload(
            "te-updates",
            NONE,
            "TechEmpower updates: N rows read, each given a new random number",
            lambda p: te_query_cases("/te/updates", p["queries"]),
            {"queries": TE_QUERIES, "pool": DB_POOL},
            module="te_updates",
            needs_db=True,
        ),
        Workload(
            "te-fortunes",
            CPU,
            "TechEmpower fortunes: every Fortune row and one more, sorted, through a template",
            lambda p: ["/te/fortunes"],
            {"pool": DB_POOL},
            module="te_fortunes",
            needs_db=True,
        ),
        # Long-lived connections (servers/live.py): bound in messages per second by
        # live_bound, not by kind. interval_ms, bytes and timeout_ms reach Locust as options
        # of their own, declared by the scenario files.
        Workload(
            "ws-echo",
            NONE,
            "WebSocket /ws/echo?ms: a message of `bytes` every interval_ms per connection",
            lambda p: [f"/ws/echo?ms={p['ms']}"],
            {
                "connections": CONNECTIONS,
                "spawn_rate": SPAWN_RATE,
                "interval_ms": INTERVAL,
                "bytes": FEED_BYTES,
                "ms": Param(0, MS_MAX, 0),
            },
            module="ws_echo",
            live=LIVE_ECHO,
        ),
        Workload(
            "ws-feed",
            NONE,
            "WebSocket /ws/feed?interval_ms&bytes: a broadcast to every subscriber",
            lambda p: [f"/ws/feed?interval_ms={p['interval_ms']}&bytes={p['bytes']}"],
            {
                "connections": CONNECTIONS,
                "spawn_rate": SPAWN_RATE,
                "interval_ms": INTERVAL,
                "bytes": FEED_BYTES,
            },
            module="ws_feed",
            live=LIVE_FEED,
        ),
        # Verification waits for one event, so it polls the fastest schedule with the same
        # timeout.
        Workload(
            "poll",
            NONE,
            "GET /poll?timeout_ms&interval_ms: long-poll for the next event",
            lambda p: [f"/poll?timeout_ms={p['timeout_ms']}&interval_ms=1"],
            {
                "connections": CONNECTIONS,
                "spawn_rate": SPAWN_RATE,
                "timeout_ms": TIMEOUT,
                "interval_ms": INTERVAL,
            },
            live=LIVE_POLL,
        ),
    )
}
WORKLOAD_NAMES = tuple(WORKLOADS)


def facts(name: str) -> Workload | None:
    """The facts of a built-in workload, or None for a user's own Locust file."""
    return WORKLOADS.get(name)


def kind(name: str) -> str:
    w = facts(name)
    return w.kind if w is not None else NONE


def is_cpu(name: str) -> bool:
    return kind(name) == CPU


def is_wait(name: str) -> bool:
    w = facts(name)
    return w is not None and w.waits


def fans_out(name: str) -> bool:
    w = facts(name)
    return w is not None and bool(w.fanout_param)


def polls_backlog(name: str) -> bool:
    w = facts(name)
    return w is not None and w.polls_backlog


def needs_backend(name: str) -> bool:
    w = facts(name)
    return w is not None and w.needs_backend


def live(name: str) -> str:
    """What a long-lived workload's messages are (one of LIVES); "" for any other."""
    w = facts(name)
    return w.live if w is not None else ""


def uploads(name: str) -> bool:
    w = facts(name)
    return w is not None and w.uploads


def needs_db(name: str) -> bool:
    w = facts(name)
    return w is not None and w.needs_db


def calls(name: str, params: dict[str, int]) -> int:
    """Upstream calls one request of this workload makes (1 for a user's own file)."""
    w = facts(name)
    return w.calls(params) if w is not None else 1
