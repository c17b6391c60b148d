"""The checks behind suite files: ranges and a checker whose every refusal names the file, the
key and what is allowed (the loopback rule is harness/hosts.py's)."""

from __future__ import annotations

from typing import Any

from catalog.limits import MAX_BACKLOG_MAX, POOL_PROCESSES_MAX, PYCURL_HINT, pycurl_importable
from record.errors import UserError

# Ranges for suite values: wide enough for real use, narrow enough to catch typos
# (a 36000-second cell is almost always a mistake for 3600).
RANGES: dict[str, tuple[float, float]] = {
    "duration_s": (1, 3600),
    "warmup_s": (0, 600),
    "repeats": (1, 20),
    "target_ci_pct": (0.0, 100.0),
    "users": (1, 2000),
    "max_error_rate": (0.0, 1.0),
    "threads": (1, 256),
    "processes": (1, 64),
    # Open loop: offered req/s per cell (above 0), requests in flight at once, an SLO.
    "rates": (0, 100_000),
    "max_in_flight": (1, 5000),
    "slo_ms": (0, 600_000),
    # /enqueue: background jobs pending per server process past which a new one is a 503.
    "max_backlog": (1, MAX_BACKLOG_MAX),
    # processpool's worker processes (0: one per core the server is given).
    "pool_processes": (0, POOL_PROCESSES_MAX),
    # Verification retried this long: an app that answers health before it can serve.
    "verify_grace_s": (0, 60),
}
# Ranges whose lower end is excluded: zero is no rate and no SLO.
POSITIVE = {"rates", "slo_ms"}


def _fmt(x: float) -> str:
    """A bound as written in a suite file: 1000000, not 1e+06."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


class Checker:
    """Checks one suite file's values; every refusal names the file, the key and what is
    allowed."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, message: str) -> UserError:
        return UserError(f"{self.source}: {key}: {message}")

    def keys(self, table: dict[str, Any], allowed: set[str], where: str) -> None:
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise self.fail(
                f"{where}{unknown[0]}", f"unknown key; allowed: {', '.join(sorted(allowed))}"
            )

    def number(self, value: Any, key: str, rng: str, integer: bool = True) -> Any:
        lo, hi = RANGES[rng]
        ok_type = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, ok_type):
            kind = "an integer" if integer else "a number"
            raise self.fail(key, f"must be {kind} in {_fmt(lo)}..{_fmt(hi)}")
        if not lo <= value <= hi or (rng in POSITIVE and value <= 0):
            above = "above " if rng in POSITIVE else ""
            raise self.fail(key, f"{value} is out of range; allowed {above}{_fmt(lo)}..{_fmt(hi)}")
        return value

    def names(self, value: Any, key: str, allowed: tuple[str, ...] | list[str]) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(key, f"must be a non-empty list of: {', '.join(allowed)}")
        for item in value:
            if item not in allowed:
                raise self.fail(key, f"unknown name {item!r}; allowed: {', '.join(allowed)}")
        if len(set(value)) != len(value):
            raise self.fail(key, "lists a name twice")
        return tuple(value)

    def users(self, value: Any, key: str, *, empty: bool = False) -> tuple[int, ...]:
        return self.levels(value, key, "users", integer=True, empty=empty)

    def rates(self, value: Any, key: str) -> tuple[float, ...]:
        return tuple(float(r) for r in self.levels(value, key, "rates", integer=False, empty=True))

    def levels(self, value: Any, key: str, rng: str, *, integer: bool, empty: bool) -> tuple:
        """A list of load levels (users or offered rates), each in range, none twice."""
        kind = "integers" if integer else "numbers"
        if not isinstance(value, list) or (not value and not empty):
            raise self.fail(key, f"must be a {'' if empty else 'non-empty '}list of {kind}")
        levels = tuple(self.number(u, key, rng, integer) for u in value)
        if len(set(levels)) != len(levels):
            raise self.fail(key, "lists a load level twice")
        return levels


def pycurl_problem() -> str | None:
    """Why the curl upstream client cannot run here (one line), or None. Asked only by a
    suite that wants curl: nothing else needs pycurl."""
    if not pycurl_importable():
        return (
            f"curl needs pycurl, which cannot be imported here: {PYCURL_HINT}; "
            "it is in requirements.txt"
        )
    return None
