"""Suite files (TOML) → a validated Suite → the matrix of cells.

Everything is checked before anything starts: unknown keys, unknown names, wrong types and
out-of-range values are refused with the file, the key and what is allowed.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from catalog import workloads
from catalog.limits import (
    ARRIVALS,
    DEFAULT_ARRIVALS,
    DEFAULT_HTTP_CLIENT,
    DEFAULT_MAX_BACKLOG,
    DEFAULT_THREADS,
    DEFAULT_UPLOAD,
    HTTP_CLIENTS,
    UPLOAD_MODES,
)
from catalog.paths import SUITE_DIR
from catalog.strategies import AWAITS, LOOPS, TARGET, VARIANT_NAMES, facts, forks
from catalog.workloads import WORKLOADS
from harness import placements
from harness.hosts import check_target
from harness.placements import PLACEMENTS
from harness.suite.apps import AppEntry, parse_apps
from harness.suite.checks import RANGES, Checker, pycurl_problem
from harness.suite.environments import EnvironmentEntry, parse_environments
from harness.suite.scenarios import NA_LOOP, ScenarioEntry, SubjectSet, parse_scenarios
from harness.suite.thresholds import parse_thresholds
from record.errors import UserError
from record.profile import DEFAULT_RATE_HZ, ON, RATE_RANGE, ProfileSettings
from record.records import DEFAULT_MAX_ERROR_RATE, CellSpec
from record.thresholds import Threshold

TOP_KEYS = {
    "name",
    "description",
    "duration_s",
    "warmup_s",
    "repeats",
    "min_repeats",
    "max_repeats",
    "target_ci_pct",
    "variants",
    "loops",
    "users",
    "max_error_rate",
    "server",
    "scenarios",
    "target",
    "placement",
    "rates",
    "arrivals",
    "max_in_flight",
    "slo_ms",
    "apps",
    "thresholds",
    "verify_grace_s",
    "environments",
    "profile",
}
SERVER_KEYS = {
    "threads",
    "processes",
    "reuse_port",
    "http_client",
    "max_backlog",
    "pool_processes",
    "upload",
}
# Open loop: at most this many requests in flight at once unless the suite says otherwise;
# generous, so that reaching it means the server fell far behind (and is recorded).
DEFAULT_MAX_IN_FLIGHT = 200
# What a suite file that leaves a setting out gets (the dataclass and the parser share them).
DEFAULT_DURATION_S = 10.0
DEFAULT_WARMUP_S = 2.0
DEFAULT_PROCESSES = 2  # a forking strategy's processes: one per core of a 2-core server side
DEFAULT_PLACEMENT = "split"  # server and generator on cores of their own (harness/placements.py)


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    duration_s: float
    warmup_s: float
    repeats: int
    variants: tuple[str, ...]
    loops: tuple[str, ...]
    scenarios: tuple[ScenarioEntry, ...]
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE
    threads: int = DEFAULT_THREADS
    processes: int = DEFAULT_PROCESSES
    # Forking strategies: shared socket (False), SO_REUSEPORT per process (True), or both.
    reuse_port: tuple[bool, ...] = (False,)
    # The awaiting strategies' upstream client on scenarios that call the backend: simple,
    # curl, or both to compare (cell id `coroutine+curl-...`; simple is left out of the id).
    http_client: tuple[str, ...] = (DEFAULT_HTTP_CLIENT,)
    # /enqueue: background jobs pending (per server process) past which a new one is a 503.
    max_backlog: int = DEFAULT_MAX_BACKLOG
    # processpool's worker processes; 0: one per core the placement gives the server.
    pool_processes: int = 0
    # Upload scenarios: the server reads bodies buffered, streamed, or both to compare (cell
    # id `sync+streamed-...`).
    upload: tuple[str, ...] = (DEFAULT_UPLOAD,)
    target: str | None = None
    placement: str = DEFAULT_PLACEMENT
    path: str = ""
    # Adaptive repeats: every cell runs min_repeats times (repeats = min_repeats), then cells
    # whose req/s interval is wider than target_ci_pct % of their mean run again, up to
    # max_repeats. None when the suite asks for a fixed number of repeats.
    max_repeats: int | None = None
    target_ci_pct: float | None = None
    # Open loop (loadgen/pacing.py): how requests arrive, how many may be in flight, and the
    # latency objective the report ranks rates against (None: no SLO).
    arrivals: str = DEFAULT_ARRIVALS
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    slo_ms: float | None = None
    # The user's own services, started per cell like a variant (harness/suite/apps.py).
    apps: tuple[AppEntry, ...] = ()
    # Objectives on summary columns, judged after the run (analysis/thresholds.py).
    thresholds: tuple[Threshold, ...] = ()
    # Verification is retried for this long before the cell fails (0: once); for an app whose
    # health path answers before it can serve (its processes still opening their pools).
    verify_grace_s: float = 0.0
    # The interpreters and packages the servers and apps run in (harness/suite/environments.py);
    # none: the harness's own.
    environments: tuple[EnvironmentEntry, ...] = ()
    # [profile]: py-spy over each cell's window (harness/processes/profiler.py); on by default.
    profile: ProfileSettings = ON

    @property
    def adaptive(self) -> bool:
        return self.target_ci_pct is not None

    @property
    def subjects(self) -> SubjectSet:
        return SubjectSet(self.target, self.variants, self.loops, tuple(a.name for a in self.apps))

    def app(self, name: str) -> AppEntry | None:
        """The app of that name, or None for a built-in variant or a target."""
        return next((a for a in self.apps if a.name == name), None)

    def entry(self, cell: CellSpec) -> ScenarioEntry:
        """The scenario table a cell comes from (a label may recur for other subjects)."""
        subjects = self.subjects
        for s in self.scenarios:
            if s.label == cell.label and cell.strategy in subjects.of(s):
                return s
        raise KeyError(f"cell {cell.cell_id} is not in suite {self.name}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Suite:
        data = dict(data)
        data["variants"] = tuple(data["variants"])
        data["loops"] = tuple(data["loops"])
        data["reuse_port"] = tuple(data.get("reuse_port", (False,)))
        data["http_client"] = tuple(data.get("http_client", (DEFAULT_HTTP_CLIENT,)))
        data["upload"] = tuple(data.get("upload", (DEFAULT_UPLOAD,)))
        data["scenarios"] = tuple(ScenarioEntry.from_dict(x) for x in data["scenarios"])
        data["apps"] = tuple(AppEntry.from_dict(a) for a in data.get("apps", ()))
        data["thresholds"] = tuple(Threshold.from_dict(t) for t in data.get("thresholds", ()))
        data["environments"] = tuple(
            EnvironmentEntry.from_dict(e) for e in data.get("environments", ())
        )
        data["profile"] = ProfileSettings.from_dict(data.get("profile"))
        return cls(**data)

    def cells(self) -> list[CellSpec]:
        """Every planned cell, repeats interleaved (the whole matrix once, then again), as
        pyperf and asv do: a machine that drifts during the run then biases no variant."""
        return [c for repeat in range(1, self.repeats + 1) for c in self.round(repeat)]

    def round(self, repeat: int) -> list[CellSpec]:
        """The matrix's cells for one repeat (closed-loop load levels, then offered rates)."""
        subjects = self.subjects
        return [
            CellSpec(
                strategy=variant,
                loop=loop,
                scenario=scenario.name,
                params=scenario.params,
                users=users,
                repeat=repeat,
                # [server] is the built-in variants' configuration; an app's processes are
                # the cores the model may assume it uses (its processes_hint).
                threads=1 if app else self.threads,
                processes=app.processes_hint if app else self._processes(variant),
                rate=rate,
                reuse_port=reuse,
                http_client=client,
                upload=upload,
                environment=environment,
            )
            for scenario in self.scenarios
            for variant in subjects.of(scenario)
            for app in [self.app(variant)]
            for reuse in (self.reuse_port if forks(variant) else (False,))
            for client in (
                self.http_client if uses_http_client(scenario, variant) else (DEFAULT_HTTP_CLIENT,)
            )
            for upload in (self.upload if uploads(scenario) else (None,))
            for loop in subjects.loops_of(scenario, variant)
            for users, rate in [(u, None) for u in scenario.users]
            + [(self.max_in_flight, r) for r in scenario.rates]
            # Innermost: each environment right after the other, so a machine that drifts
            # during the run moves all of them alike.
            for environment in [e.name for e in self.environments] or [""]
        ]

    def _processes(self, variant: str) -> int:
        """A built-in variant's `processes` in its cells (catalog/strategies.py
        cell_processes): a process pool's default size is the server's cores here."""
        v = facts(variant)
        if v is None:
            return 1
        pool = self.pool_processes or len(placements.choose(self.placement).server_cpus)
        return v.cell_processes(configured=self.processes, pool=pool)


# One measurement: a variant on a loop under one scenario at one load level (results format).


def uses_http_client(scenario: ScenarioEntry, variant: str) -> bool:
    """Whether [server] http_client makes a difference to this scenario on this variant: an
    awaiting strategy (the blocking ones keep their own client) calling the backend (a
    built-in upstream or fanout scenario; a user's Locust file may call it too)."""
    v = facts(variant)
    if v is None or v.waits != AWAITS:
        return False
    return bool(scenario.file) or WORKLOADS[scenario.name].needs_backend


def uploads(scenario: ScenarioEntry) -> bool:
    """Whether [server] upload makes a difference: a built-in upload scenario."""
    return not scenario.file and workloads.uploads(scenario.name)


def _parse_upload(c: Checker, value: Any, scenarios: tuple[ScenarioEntry, ...]) -> tuple[str, ...]:
    """buffered, streamed, or ["buffered", "streamed"] to compare; upload scenarios only."""
    values = value if isinstance(value, list) else [value]
    allowed = ", ".join(UPLOAD_MODES)
    if not values or any(v not in UPLOAD_MODES for v in values) or len(set(values)) != len(values):
        raise c.fail("server.upload", f"must be one of: {allowed}, or a list of them")
    if values != [DEFAULT_UPLOAD] and not any(uploads(s) for s in scenarios):
        raise c.fail("server.upload", "applies to upload scenarios; the suite runs none of them")
    return tuple(values)


def _parse_subjects(
    c: Checker, data: dict[str, Any], source: str, allow_remote: bool
) -> tuple[SubjectSet, tuple[AppEntry, ...]]:
    """Either a running server (target), or built-in variants on loops and/or the user's own
    apps. Without variants, a suite runs every built-in variant unless it names apps."""
    target = data.get("target")
    base = Path(source).resolve().parent  # relative paths in a suite are its folder's
    apps = parse_apps(c, data["apps"], base) if "apps" in data else ()
    if target is None:
        default = [] if apps else list(VARIANT_NAMES)
        given = data.get("variants", default)
        variants = c.names(given, "variants", VARIANT_NAMES) if given or not apps else ()
        loops = c.names(data.get("loops", ["asyncio"]), "loops", LOOPS)
        return SubjectSet(None, variants, loops, tuple(a.name for a in apps)), apps
    if not isinstance(target, str):
        raise c.fail("target", "must be a URL string like http://127.0.0.1:PORT")
    if "variants" in data:
        raise c.fail("target", "give either target or variants, not both")
    if apps:
        raise c.fail("apps", "give either target (a running server) or apps, not both")
    url = check_target(target, allow_remote, f"{source}: target")
    return SubjectSet(url, (TARGET,), (NA_LOOP,)), ()


ADAPTIVE_KEYS = ("min_repeats", "max_repeats", "target_ci_pct")


def _parse_repeats(c: Checker, data: dict[str, Any]) -> tuple[int, int | None, float | None]:
    """repeats = N (fixed), or min_repeats/max_repeats/target_ci_pct (repeat until the req/s
    interval is narrow enough): (repeats, max_repeats, target_ci_pct)."""
    given = [k for k in ADAPTIVE_KEYS if k in data]
    if not given:
        return c.number(data.get("repeats", 1), "repeats", "repeats"), None, None
    if "repeats" in data:
        raise c.fail(given[0], "give either repeats, or min_repeats/max_repeats/target_ci_pct")
    lo = c.number(data.get("min_repeats", 2), "min_repeats", "repeats")
    hi = c.number(data.get("max_repeats", 5), "max_repeats", "repeats")
    if lo > hi:
        raise c.fail("min_repeats", f"{lo} is above max_repeats ({hi}); allowed 1..max_repeats")
    if lo < 2 and hi < 2:
        raise c.fail("max_repeats", "must be at least 2: one repeat has no interval to narrow")
    target = c.number(data.get("target_ci_pct", 5), "target_ci_pct", "target_ci_pct", False)
    if not target > 0:
        raise c.fail("target_ci_pct", f"{target} is out of range; allowed above 0 up to 100")
    return lo, hi, float(target)


def _parse_reuse_port(c: Checker, value: Any, variants: tuple[str, ...]) -> tuple[bool, ...]:
    """true, false, or [false, true] to compare the two; forking strategies only."""
    values = value if isinstance(value, list) else [value]
    if (
        not values
        or any(not isinstance(v, bool) for v in values)
        or len(set(values)) != len(values)
    ):
        raise c.fail("server.reuse_port", "must be true, false or [false, true]")
    if True in values and not any(forks(v) for v in variants):
        raise c.fail(
            "server.reuse_port",
            "applies to forking strategies only (multiprocess); the suite runs none of them",
        )
    return tuple(values)


def _parse_http_client(
    c: Checker, value: Any, subjects: SubjectSet, scenarios: tuple[ScenarioEntry, ...]
) -> tuple[str, ...]:
    """simple, curl, or ["simple", "curl"] to compare the two; the awaiting strategies'
    upstream calls only. curl is refused here, before anything starts, without pycurl."""
    values = value if isinstance(value, list) else [value]
    allowed = ", ".join(HTTP_CLIENTS)
    if not values or any(v not in HTTP_CLIENTS for v in values) or len(set(values)) != len(values):
        raise c.fail("server.http_client", f"must be one of: {allowed}, or a list of them")
    if any(v != DEFAULT_HTTP_CLIENT for v in values):
        if not any(uses_http_client(s, v) for s in scenarios for v in subjects.of(s)):
            raise c.fail(
                "server.http_client",
                "applies to the upstream calls of the awaiting strategies (coroutine, fanout, "
                "gencoroutine) in upstream or fanout scenarios; the suite runs none of them",
            )
        problem = pycurl_problem()
        if problem is not None:
            raise c.fail("server.http_client", problem)
    return tuple(values)


def _parse_open_loop(c: Checker, data: dict[str, Any]) -> dict[str, Any]:
    arrivals = data.get("arrivals", DEFAULT_ARRIVALS)
    if arrivals not in ARRIVALS:
        raise c.fail("arrivals", f"must be one of: {', '.join(ARRIVALS)}")
    slo = data.get("slo_ms")
    return {
        "arrivals": arrivals,
        "max_in_flight": c.number(
            data.get("max_in_flight", DEFAULT_MAX_IN_FLIGHT), "max_in_flight", "max_in_flight"
        ),
        "slo_ms": None if slo is None else float(c.number(slo, "slo_ms", "slo_ms", False)),
    }


def parse_suite(data: dict[str, Any], source: str, *, allow_remote: bool = False) -> Suite:
    c = Checker(source)
    c.keys(data, TOP_KEYS, "")
    name = data.get("name", Path(source).stem)
    if not isinstance(name, str) or not name.replace("-", "").replace("_", "").isalnum():
        raise c.fail("name", "must be letters, digits, '-' or '_'")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise c.fail("description", "must be a string")
    placement = data.get("placement", DEFAULT_PLACEMENT)
    if placement not in PLACEMENTS:
        raise c.fail("placement", f"must be one of: {', '.join(PLACEMENTS)}")
    subjects, apps = _parse_subjects(c, data, source, allow_remote)
    variants = subjects.variants
    server = data.get("server", {})
    if not isinstance(server, dict):
        raise c.fail("server", f"must be a table with: {', '.join(sorted(SERVER_KEYS))}")
    c.keys(server, SERVER_KEYS, "server.")
    repeats, max_repeats, target_ci = _parse_repeats(c, data)
    scenarios = parse_scenarios(c, data, subjects, Path(source).resolve().parent)
    return Suite(
        name=name,
        description=description,
        duration_s=float(
            c.number(data.get("duration_s", DEFAULT_DURATION_S), "duration_s", "duration_s", False)
        ),
        warmup_s=float(
            c.number(data.get("warmup_s", DEFAULT_WARMUP_S), "warmup_s", "warmup_s", False)
        ),
        repeats=repeats,
        max_repeats=max_repeats,
        target_ci_pct=target_ci,
        variants=variants,
        loops=subjects.loops,
        scenarios=scenarios,
        max_error_rate=float(
            c.number(
                data.get("max_error_rate", DEFAULT_MAX_ERROR_RATE),
                "max_error_rate",
                "max_error_rate",
                False,
            )
        ),
        threads=c.number(server.get("threads", DEFAULT_THREADS), "server.threads", "threads"),
        processes=c.number(
            server.get("processes", DEFAULT_PROCESSES), "server.processes", "processes"
        ),
        reuse_port=_parse_reuse_port(c, server.get("reuse_port", False), variants),
        http_client=_parse_http_client(
            c, server.get("http_client", DEFAULT_HTTP_CLIENT), subjects, scenarios
        ),
        max_backlog=c.number(
            server.get("max_backlog", DEFAULT_MAX_BACKLOG), "server.max_backlog", "max_backlog"
        ),
        pool_processes=c.number(
            server.get("pool_processes", 0), "server.pool_processes", "pool_processes"
        ),
        upload=_parse_upload(c, server.get("upload", DEFAULT_UPLOAD), scenarios),
        target=subjects.target,
        placement=placement,
        path=source,
        **_parse_open_loop(c, data),
        apps=apps,
        thresholds=parse_thresholds(c, data.get("thresholds", []), subjects, scenarios),
        verify_grace_s=float(
            c.number(data.get("verify_grace_s", 0), "verify_grace_s", "verify_grace_s", False)
        ),
        environments=_parse_environments(c, data, subjects),
        profile=_parse_profile(c, data.get("profile", {})),
    )


PROFILE_KEYS = {"enabled", "rate_hz"}


def _parse_profile(c: Checker, table: Any) -> ProfileSettings:
    """[profile]: `enabled` (default true) and `rate_hz`, py-spy's samples per second."""
    if not isinstance(table, dict):
        raise c.fail("profile", f"must be a table with: {', '.join(sorted(PROFILE_KEYS))}")
    c.keys(table, PROFILE_KEYS, "profile.")
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        raise c.fail("profile.enabled", "must be true or false")
    rate = table.get("rate_hz", DEFAULT_RATE_HZ)
    lo, hi = RATE_RANGE
    if isinstance(rate, bool) or not isinstance(rate, int) or not lo <= rate <= hi:
        raise c.fail("profile.rate_hz", f"must be an integer in {lo}..{hi}")
    return ProfileSettings(enabled=enabled, rate_hz=rate)


def _parse_environments(
    c: Checker, data: dict[str, Any], subjects: SubjectSet
) -> tuple[EnvironmentEntry, ...]:
    if "environments" not in data:
        return ()
    if subjects.target is not None:
        raise c.fail("environments", "a target runs in its own environment: give one or the other")
    return parse_environments(c, data["environments"])


def resolve_suite_path(name_or_path: str) -> Path:
    """A path, or the name of a file in suites/ (with or without .toml)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    for candidate in (SUITE_DIR / name_or_path, SUITE_DIR / f"{name_or_path}.toml"):
        if candidate.is_file():
            return candidate
    known = ", ".join(sorted(p.stem for p in SUITE_DIR.glob("*.toml")))
    raise UserError(f"{name_or_path}: no such suite file; suites here: {known}")


def load_suite(name_or_path: str, *, allow_remote: bool = False) -> Suite:
    path = resolve_suite_path(name_or_path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    return parse_suite(data, str(path), allow_remote=allow_remote)


def with_overrides(
    suite: Suite, *, duration_s: float | None = None, rates: tuple[float, ...] | None = None
) -> Suite:
    """The suite with command-line overrides: --duration, and --rates (every scenario becomes
    open-loop at those offered rates)."""
    if rates is not None:
        c = Checker("--rates")
        levels = c.rates(list(rates), "rates")
        if not levels:
            raise UserError("--rates: give at least one rate, e.g. --rates 50,100")
        live = [s.name for s in suite.scenarios if not s.file and WORKLOADS[s.name].live]
        if live:
            raise UserError(
                f"--rates: {live[0]} holds connections (its load is params.connections), so an "
                "offered rate does not apply; --rates takes suites of request scenarios only"
            )
        suite = replace(
            suite, scenarios=tuple(replace(s, users=(), rates=levels) for s in suite.scenarios)
        )
    if duration_s is None:
        return suite
    lo, hi = RANGES["duration_s"]
    if not lo <= duration_s <= hi:
        raise UserError(f"--duration: {duration_s:g} is out of range; allowed {lo:g}..{hi:g}")
    return replace(suite, duration_s=float(duration_s))
