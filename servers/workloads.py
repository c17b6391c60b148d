"""The facts about each built-in workload (scenario) that the model, the charts, the readings,
the harness and the CLI need, without Tornado or Locust: importing this module starts nothing.

Nothing outside this module compares a scenario name as a string; it asks a fact instead (what
kind of work is it? does it need the backend or a database? does its server keep a backlog the
harness polls?). A new workload is one entry in WORKLOADS (plus its Locust file in scenarios/
and its parameters in harness/suite/catalog.py).
"""

from __future__ import annotations

from dataclasses import dataclass

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

# Connections in the awaiting strategies' database pool when a suite does not say (the
# server's --db-pool); the other strategies hold one per thread or process.
DEFAULT_DB_POOL = 10


@dataclass(frozen=True)
class WorkloadFacts:
    name: str
    kind: str  # one of KINDS
    needs_backend: bool = False  # the upstream backend is started beside the server
    # A PostgreSQL database: a throwaway one per cell (harness/processes/postgres.py), or --db-url.
    needs_db: bool = False
    # The server answers at once and keeps the work pending; the harness polls its backlog.
    polls_backlog: bool = False
    # The parameter holding how many upstream calls one request makes ("" when it makes one).
    fanout_param: str = ""
    # A long-lived workload: one of LIVES ("" for request → response).
    live: str = ""
    # Requests carry a body the server reads buffered or streamed ([server] upload), and the
    # server's memory per request in flight is the figure (upload_kb_in_flight).
    uploads: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"workload {self.name}: kind {self.kind!r} is not one of {KINDS}")
        if self.live and self.live not in LIVES:
            raise ValueError(f"workload {self.name}: live {self.live!r} is not one of {LIVES}")

    @property
    def waits(self) -> bool:
        """Bound by a wait (Little's law) rather than by the server's CPU."""
        return self.kind in (WAIT, POOL_BOUND)

    def calls(self, params: dict[str, int]) -> int:
        """Upstream calls one request makes (1 for a workload that does not fan out)."""
        return int(params[self.fanout_param]) if self.fanout_param else 1


WORKLOADS: dict[str, WorkloadFacts] = {
    w.name: w
    for w in (
        WorkloadFacts("hello", CPU),
        WorkloadFacts("json", CPU),
        WorkloadFacts("sleep", WAIT),
        WorkloadFacts("cpu", CPU),
        WorkloadFacts("upstream", WAIT, needs_backend=True),
        WorkloadFacts("fanout", WAIT, needs_backend=True, fanout_param="n"),
        WorkloadFacts("mixed", NONE),
        WorkloadFacts("enqueue", NONE, polls_backlog=True),
        WorkloadFacts("stream", NONE),
        WorkloadFacts("db-sleep", POOL_BOUND, needs_db=True),
        # /db?query=rows is CPU in the server and is bound like /cpu.
        WorkloadFacts("db-rows", CPU, needs_db=True),
        WorkloadFacts("db-write", NONE, needs_db=True),
        # TechEmpower's types are CPU in the server (bound like db-rows); te-updates, like
        # db-write, has no bound the model can state (the database's writes).
        WorkloadFacts("te-plaintext", CPU),
        WorkloadFacts("te-json", CPU),
        WorkloadFacts("te-db", CPU, needs_db=True),
        WorkloadFacts("te-queries", CPU, needs_db=True),
        WorkloadFacts("te-updates", NONE, needs_db=True),
        WorkloadFacts("te-fortunes", CPU, needs_db=True),
        # POST /upload: the body's transfer and hashing; no bound the model states.
        WorkloadFacts("upload", NONE, uploads=True),
        # Long-lived connections: bound in messages per second by live_bound, not by kind.
        WorkloadFacts("ws-echo", NONE, live=LIVE_ECHO),
        WorkloadFacts("ws-feed", NONE, live=LIVE_FEED),
        WorkloadFacts("poll", NONE, live=LIVE_POLL),
    )
}
WORKLOAD_NAMES = tuple(WORKLOADS)


def facts(name: str) -> WorkloadFacts | None:
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
