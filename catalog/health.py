"""The body of a built-in server's GET /health, one typed record both sides use: the servers
write it (servers/handlers.py), the harness reads it (harness/processes/health.py polls it
for an enqueue cell's backlog and a long-lived cell's connections). A forking server answers
from whichever process accepted the connection: the counts are that process's own."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Background:
    """One process's /enqueue jobs (servers/work.py Backlog)."""

    queued: int
    in_progress: int
    completed: int
    failed: int
    rejected: int
    max_backlog: int


@dataclass(frozen=True)
class LiveCounts:
    """One process's long-lived connections (servers/live.py LiveHub)."""

    websockets: int  # open WebSockets, echo and feed
    feeds: int  # of which feed subscriptions
    polls_waiting: int
    polls_waiting_max: int  # the most polls this process held waiting at once
    polls_answered: int
    polls_timed_out: int
    messages_sent: int
    send_backlog_bytes: int  # written to sockets, not yet taken by the kernel
    backlog_closes: int  # sockets closed with 1008 for passing the backlog limit
    send_backlog_max_bytes: int


@dataclass(frozen=True)
class Health:
    status: str
    variant: str
    loop: str  # the running loop's class, "module.Name"
    pid: int
    threads: int
    processes: int
    http_client: str
    background: Background | None = None  # None on the backend
    live: LiveCounts | None = None
    # What the process runs (an [[environments]] cell checks it is its environment's).
    python: str = ""  # platform.python_version()
    tornado: str = ""  # tornado.version

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, body: bytes | str) -> Health:
        """A /health body; ValueError when it is not one (another server's, a cut body)."""
        try:
            data = json.loads(body)
            return cls(
                status=str(data["status"]),
                variant=str(data["variant"]),
                loop=str(data["loop"]),
                pid=int(data["pid"]),
                threads=int(data["threads"]),
                processes=int(data["processes"]),
                http_client=str(data["http_client"]),
                background=_section(Background, data.get("background")),
                live=_section(LiveCounts, data.get("live")),
                python=str(data.get("python") or ""),
                tornado=str(data.get("tornado") or ""),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a /health body: {exc!r}") from None


def _section(kind: Any, data: Any) -> Any:
    if data is None:
        return None
    return kind(**{f.name: int(data[f.name]) for f in fields(kind)})
