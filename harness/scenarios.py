"""What each load scenario needs: its Locust file, its parameters and their bounds, whether it
needs the upstream backend, and the requests it sends (which verification checks first).
The Locust files themselves live in scenarios/ and are only ever run as a separate process."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from servers import config as limits
from servers.config import (
    CPU_N_MAX,
    DB_POOL_MAX,
    DEFAULT_DB_POOL,
    FANOUT_N_MAX,
    FANOUT_TOTAL_MS_MAX,
    MS_MAX,
)
from servers.dbwork import DB_ROWS

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"


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
    needs_backend: bool = False
    # A PostgreSQL database: a throwaway one per cell (harness/postgres.py), or --db-url.
    needs_db: bool = False
    # Locust puts the file's folder first on sys.path, so a file must not share a name with
    # a standard module (json.py would shadow json).
    module: str = ""

    @property
    def locustfile(self) -> Path:
        return SCENARIO_DIR / f"{self.module or self.name}.py"

    def resolve(self, given: dict[str, int]) -> dict[str, int]:
        """Defaults filled in; the caller has validated names and ranges already."""
        return {k: given.get(k, p.default) for k, p in self.params.items()}

    def paths(self, params: dict[str, int]) -> list[str]:
        """The request paths the scenario sends (in the form the servers expect)."""
        return _PATHS[self.name](params)


MS = Param(0, MS_MAX, 50)
DB_POOL = Param(1, DB_POOL_MAX, DEFAULT_DB_POOL)

SCENARIOS: dict[str, ScenarioSpec] = {
    s.name: s
    for s in (
        ScenarioSpec("hello", "GET /hello: framework overhead"),
        ScenarioSpec("json", "GET /json: serialization", module="json_endpoint"),
        ScenarioSpec("sleep", "GET /sleep?ms: simulated I/O wait", {"ms": MS}),
        ScenarioSpec("cpu", "GET /cpu?n: pure-Python CPU work", {"n": Param(1, CPU_N_MAX, 20000)}),
        ScenarioSpec(
            "upstream", "GET /upstream?ms: one backend call", {"ms": MS}, needs_backend=True
        ),
        ScenarioSpec(
            "fanout",
            "GET /fanout?n&ms: n independent backend calls",
            {"n": Param(1, FANOUT_N_MAX, 4), "ms": MS},
            needs_backend=True,
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
            needs_db=True,
            module="db_sleep",
        ),
        ScenarioSpec(
            "db-rows",
            "GET /db?query=rows&n: n seeded rows, a join and ORDER BY",
            {"n": Param(1, DB_ROWS, 100), "pool": DB_POOL},
            needs_db=True,
            module="db_rows",
        ),
        ScenarioSpec(
            "db-write",
            "GET /db?query=write: one INSERT in a transaction",
            {"pool": DB_POOL},
            needs_db=True,
            module="db_write",
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
}


def cross_check(name: str, params: dict[str, int]) -> str | None:
    """Constraints between parameters; a message when they are violated."""
    if name == "fanout" and params["n"] * params["ms"] > FANOUT_TOTAL_MS_MAX:
        return f"n*ms must be at most {FANOUT_TOTAL_MS_MAX}"
    if name == "stream" and params["chunks"] * params["bytes"] > limits.STREAM_TOTAL_BYTES_MAX:
        return f"chunks*bytes must be at most {limits.STREAM_TOTAL_BYTES_MAX}"
    if name == "stream" and (params["chunks"] - 1) * params["ms"] > limits.STREAM_TOTAL_MS_MAX:
        return f"(chunks-1)*ms must be at most {limits.STREAM_TOTAL_MS_MAX}"
    return None
