"""What each load scenario needs: its Locust file, its parameters and their bounds, whether it
needs the upstream backend, and the requests it sends (which verification checks first).
The Locust files themselves live in scenarios/ and are only ever run as a separate process."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.paths import SCENARIO_DIR
from servers import config as limits
from servers import livework, tework, workloads
from servers.config import (
    CPU_N_MAX,
    DB_POOL_MAX,
    FANOUT_N_MAX,
    FANOUT_TOTAL_MS_MAX,
    MS_MAX,
)
from servers.dbqueries import DB_ROWS


@dataclass(frozen=True)
class Param:
    lo: int
    hi: int
    default: int


@dataclass(frozen=True)
class ScenarioSpec:
    name: str
    summary: str
    params: dict[str, Param] = field(default_factory=dict)
    # Locust puts the file's folder first on sys.path, so a file must not share a name with
    # a standard module (json.py would shadow json).
    module: str = ""

    @property
    def needs_backend(self) -> bool:
        """The upstream backend is started beside the server (servers/workloads.py)."""
        return workloads.needs_backend(self.name)

    @property
    def needs_db(self) -> bool:
        """A PostgreSQL database: a throwaway one per cell (harness/processes/postgres.py), or --db-url."""
        return workloads.needs_db(self.name)

    @property
    def live(self) -> bool:
        """A long-lived connection per user: `connections` is the cell's user count, opened at
        `spawn_rate` per second, and the window starts after that ramp (harness/connections.py)."""
        return bool(workloads.live(self.name))

    @property
    def locustfile(self) -> Path:
        return SCENARIO_DIR / f"{self.module or self.name}.py"

    def resolve(self, given: dict[str, int]) -> dict[str, int]:
        """Defaults filled in; the caller has validated names and ranges already."""
        return {k: given.get(k, p.default) for k, p in self.params.items()}

    def param_problem(self, name: str, value: object) -> str | None:
        """The one check of a parameter given to this scenario (a suite file, a stored run):
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

    def paths(self, params: dict[str, int]) -> list[str]:
        """The request paths the scenario sends (in the form the servers expect)."""
        return _PATHS[self.name](params)


MS = Param(0, MS_MAX, 50)
# Long-lived scenarios: how many connections a cell holds (each a Locust user; the harness
# refuses more than the open-file and port limits allow) and how many open per second (the
# default opens 10,000 in about 10 s).
CONNECTIONS = Param(1, 100_000, 200)
SPAWN_RATE = Param(1, 10_000, 1000)
INTERVAL = Param(livework.INTERVAL_MS_MIN, livework.INTERVAL_MS_MAX, livework.DEFAULT_INTERVAL_MS)
FEED_BYTES = Param(livework.FEED_BYTES_MIN, livework.FEED_BYTES_MAX, livework.DEFAULT_FEED_BYTES)
TIMEOUT = Param(livework.TIMEOUT_MS_MIN, livework.TIMEOUT_MS_MAX, livework.DEFAULT_TIMEOUT_MS)
DB_POOL = Param(1, DB_POOL_MAX, workloads.DEFAULT_DB_POOL)
TE_QUERIES = Param(tework.QUERIES_MIN, tework.QUERIES_MAX, 20)  # TechEmpower's 1..500

SCENARIOS: dict[str, ScenarioSpec] = {
    s.name: s
    for s in (
        ScenarioSpec("hello", "GET /hello: framework overhead"),
        ScenarioSpec("json", "GET /json: serialization", module="json_endpoint"),
        ScenarioSpec("sleep", "GET /sleep?ms: simulated I/O wait", {"ms": MS}),
        ScenarioSpec("cpu", "GET /cpu?n: pure-Python CPU work", {"n": Param(1, CPU_N_MAX, 20000)}),
        ScenarioSpec("upstream", "GET /upstream?ms: one backend call", {"ms": MS}),
        ScenarioSpec(
            "fanout",
            "GET /fanout?n&ms: n independent backend calls",
            {"n": Param(1, FANOUT_N_MAX, 4), "ms": MS},
        ),
        ScenarioSpec(
            "mixed",
            "weighted mix: hello 4, json 3, sleep 2, cpu 1",
            {"ms": MS, "n": Param(1, CPU_N_MAX, 20000)},
        ),
        # n = 0 (the default): each job waits ms; n > 0: each job is n units of CPU work.
        ScenarioSpec(
            "enqueue",
            "GET /enqueue?ms (or n): answered at once, the work done in the background",
            {"ms": MS, "n": Param(0, limits.CPU_N_MAX, 0)},
        ),
        # chunks and bytes reach Locust as --chunks/--bytes, declared by scenarios/stream.py.
        ScenarioSpec(
            "stream",
            "GET /stream?chunks&bytes&ms: chunks flushed ms apart; time to first byte",
            {
                "chunks": Param(1, limits.STREAM_CHUNKS_MAX, 8),
                "bytes": Param(1, limits.STREAM_CHUNK_BYTES_MAX, 4096),
                "ms": Param(0, MS_MAX, 20),
            },
        ),
        # POST /upload: a body of `bytes` sent in pieces of `chunk` (chunked transfer), whose
        # length and SHA-256 the server answers; [server] upload says how it reads it.
        ScenarioSpec(
            "upload",
            "POST /upload: a streamed request body, read buffered or streamed by the server",
            {
                "bytes": Param(0, limits.UPLOAD_BYTES_MAX, 1024 * 1024),
                "chunk": Param(1, limits.UPLOAD_BYTES_MAX, 64 * 1024),
            },
        ),
        # /db?query=...: one scenario per query, so that a suite names what it measures
        # (db-rows with n = 100) and a cell id carries only the parameters its query uses.
        # `pool` is the awaiting strategies' connection pool (the server's --db-pool).
        ScenarioSpec(
            "db-sleep",
            "GET /db?query=sleep&ms: a wait inside PostgreSQL (pg_sleep)",
            {"ms": MS, "pool": DB_POOL},
            module="db_sleep",
        ),
        ScenarioSpec(
            "db-rows",
            "GET /db?query=rows&n: n seeded rows, a join and ORDER BY",
            {"n": Param(1, DB_ROWS, 100), "pool": DB_POOL},
            module="db_rows",
        ),
        ScenarioSpec(
            "db-write",
            "GET /db?query=write: one INSERT in a transaction",
            {"pool": DB_POOL},
            module="db_write",
        ),
        # TechEmpower's six test types (/te/..., servers/techempower.py), as its
        # FrameworkBenchmarks specifies them; `queries` is the N of queries and updates.
        ScenarioSpec(
            "te-plaintext", "TechEmpower plaintext: GET /te/plaintext", module="te_plaintext"
        ),
        ScenarioSpec("te-json", "TechEmpower json: GET /te/json", module="te_json"),
        ScenarioSpec(
            "te-db",
            "TechEmpower db: one random World row",
            {"pool": DB_POOL},
            module="te_db",
        ),
        ScenarioSpec(
            "te-queries",
            "TechEmpower queries: N random World rows, a query each",
            {"queries": TE_QUERIES, "pool": DB_POOL},
            module="te_queries",
        ),
        ScenarioSpec(
            "te-updates",
            "TechEmpower updates: N rows read, each given a new random number",
            {"queries": TE_QUERIES, "pool": DB_POOL},
            module="te_updates",
        ),
        ScenarioSpec(
            "te-fortunes",
            "TechEmpower fortunes: every Fortune row and one more, sorted, through a template",
            {"pool": DB_POOL},
            module="te_fortunes",
        ),
        # Long-lived connections (servers/live.py). interval_ms, bytes and timeout_ms reach
        # Locust as options of their own, declared by the scenario files.
        ScenarioSpec(
            "ws-echo",
            "WebSocket /ws/echo?ms: a message of `bytes` every interval_ms per connection",
            {
                "connections": CONNECTIONS,
                "spawn_rate": SPAWN_RATE,
                "interval_ms": INTERVAL,
                "bytes": FEED_BYTES,
                "ms": Param(0, MS_MAX, 0),
            },
            module="ws_echo",
        ),
        ScenarioSpec(
            "ws-feed",
            "WebSocket /ws/feed?interval_ms&bytes: a broadcast to every subscriber",
            {
                "connections": CONNECTIONS,
                "spawn_rate": SPAWN_RATE,
                "interval_ms": INTERVAL,
                "bytes": FEED_BYTES,
            },
            module="ws_feed",
        ),
        ScenarioSpec(
            "poll",
            "GET /poll?timeout_ms&interval_ms: long-poll for the next event",
            {
                "connections": CONNECTIONS,
                "spawn_rate": SPAWN_RATE,
                "timeout_ms": TIMEOUT,
                "interval_ms": INTERVAL,
            },
        ),
    )
}

_PATHS = {
    "hello": lambda p: ["/hello"],
    "json": lambda p: ["/json"],
    "sleep": lambda p: [f"/sleep?ms={p['ms']}"],
    "cpu": lambda p: [f"/cpu?n={p['n']}"],
    "upstream": lambda p: [f"/upstream?ms={p['ms']}"],
    "fanout": lambda p: [f"/fanout?n={p['n']}&ms={p['ms']}"],
    "mixed": lambda p: ["/hello", "/json", f"/sleep?ms={p['ms']}", f"/cpu?n={p['n']}"],
    "enqueue": lambda p: [f"/enqueue?n={p['n']}" if p["n"] > 0 else f"/enqueue?ms={p['ms']}"],
    "stream": lambda p: [f"/stream?chunks={p['chunks']}&bytes={p['bytes']}&ms={p['ms']}"],
    # The query is the verifier's (harness/verify.py POSTs a body of that size); the server
    # ignores it.
    "upload": lambda p: [f"/upload?bytes={p['bytes']}&chunk={p['chunk']}"],
    "db-sleep": lambda p: [f"/db?query=sleep&ms={p['ms']}"],
    "db-rows": lambda p: [f"/db?query=rows&n={p['n']}"],
    "db-write": lambda p: ["/db?query=write"],
    "te-plaintext": lambda p: ["/te/plaintext"],
    "te-json": lambda p: ["/te/json"],
    "te-db": lambda p: ["/te/db"],
    "te-queries": lambda p: te_query_cases("/te/queries", p["queries"]),
    "te-updates": lambda p: te_query_cases("/te/updates", p["queries"]),
    "te-fortunes": lambda p: ["/te/fortunes"],
    "ws-echo": lambda p: [f"/ws/echo?ms={p['ms']}"],
    "ws-feed": lambda p: [f"/ws/feed?interval_ms={p['interval_ms']}&bytes={p['bytes']}"],
    # Verification waits for one event, so it polls the fastest schedule with the same timeout.
    "poll": lambda p: [f"/poll?timeout_ms={p['timeout_ms']}&interval_ms=1"],
}


def te_query_cases(path: str, n: int) -> list[str]:
    """The load's own ?queries=N and TechEmpower's verifier's cases (2, 0, foo, 501, empty,
    missing), which verification checks for the clamped number of rows."""
    cases = [f"{path}?queries={q}" for q in (n, 2, 0, "foo", 501, "")]
    return [*dict.fromkeys(cases), path]


def _fanout_total(p: dict[str, int]) -> str | None:
    if p["n"] * p["ms"] > FANOUT_TOTAL_MS_MAX:
        return f"n*ms must be at most {FANOUT_TOTAL_MS_MAX}"
    return None


def _stream_total(p: dict[str, int]) -> str | None:
    if p["chunks"] * p["bytes"] > limits.STREAM_TOTAL_BYTES_MAX:
        return f"chunks*bytes must be at most {limits.STREAM_TOTAL_BYTES_MAX}"
    if (p["chunks"] - 1) * p["ms"] > limits.STREAM_TOTAL_MS_MAX:
        return f"(chunks-1)*ms must be at most {limits.STREAM_TOTAL_MS_MAX}"
    return None


# Constraints between a scenario's parameters, beyond each one's own range.
_CROSS = {"fanout": _fanout_total, "stream": _stream_total}


def cross_check(name: str, params: dict[str, int]) -> str | None:
    """Constraints between parameters; a message when they are violated."""
    check = _CROSS.get(name)
    return check(params) if check is not None else None
