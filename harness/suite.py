"""Suite files (TOML) → a validated Suite → the matrix of cells.

Everything is checked before anything starts: unknown keys, unknown names, wrong types and
out-of-range values are refused with the file, the key and what is allowed.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from harness.placement import PLACEMENTS
from harness.scenarios import SCENARIOS, cross_check
from harness.suite_checks import RANGES, Checker, check_target
from record.cells import CellSpec
from record.errors import UserError
from record.schema import scenario_label
from servers.variants import LOOPS, TARGET, VARIANT_NAMES, facts, forks

SUITE_DIR = Path(__file__).resolve().parent.parent / "suites"

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
}
SERVER_KEYS = {"threads", "processes", "reuse_port"}
SCENARIO_KEYS = {"name", "params", "users", "rates", "variants", "loops"}
ARRIVALS = ("constant", "poisson")  # loadgen/pacing.py
# Open loop: at most this many requests in flight at once unless the suite says otherwise;
# generous, so that reaching it means the server fell far behind (and is recorded).
DEFAULT_MAX_IN_FLIGHT = 200


@dataclass(frozen=True)
class ScenarioEntry:
    name: str
    params: dict[str, int]
    users: tuple[int, ...]
    # A scenario may run on a subset of the suite's variants, or on other loops (for
    # example uvloop beside asyncio for one strategy only); the suite's lists otherwise.
    variants: tuple[str, ...] = ()
    loops: tuple[str, ...] = ()
    rates: tuple[float, ...] = ()  # open-loop offered req/s, beside or instead of users

    @property
    def label(self) -> str:
        return scenario_label(self.name, self.params)


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
    max_error_rate: float = 0.01
    threads: int = 8
    processes: int = 2
    # Forking strategies: shared socket (False), SO_REUSEPORT per process (True), or both.
    reuse_port: tuple[bool, ...] = (False,)
    target: str | None = None
    placement: str = "split"
    path: str = ""
    # Adaptive repeats: every cell runs min_repeats times (repeats = min_repeats), then cells
    # whose req/s interval is wider than target_ci_pct % of their mean run again, up to
    # max_repeats. None when the suite asks for a fixed number of repeats.
    max_repeats: int | None = None
    target_ci_pct: float | None = None
    # Open loop (loadgen/pacing.py): how requests arrive, how many may be in flight, and the
    # latency objective the report ranks rates against (None: no SLO).
    arrivals: str = "constant"
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    slo_ms: float | None = None

    @property
    def adaptive(self) -> bool:
        return self.target_ci_pct is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Suite:
        data = dict(data)
        data["variants"] = tuple(data["variants"])
        data["loops"] = tuple(data["loops"])
        data["reuse_port"] = tuple(data.get("reuse_port", (False,)))
        data["scenarios"] = tuple(
            ScenarioEntry(
                s["name"],
                dict(s["params"]),
                tuple(s["users"]),
                tuple(s.get("variants", ())),
                tuple(s.get("loops", ())),
                tuple(s.get("rates", ())),
            )
            for s in data["scenarios"]
        )
        return cls(**data)

    def cells(self) -> list[CellSpec]:
        """Every planned cell, repeats interleaved (the whole matrix once, then again), as
        pyperf and asv do: a machine that drifts during the run then biases no variant."""
        return [c for repeat in range(1, self.repeats + 1) for c in self.round(repeat)]

    def round(self, repeat: int) -> list[CellSpec]:
        """The matrix's cells for one repeat (closed-loop load levels, then offered rates)."""
        return [
            CellSpec(
                variant=variant,
                loop=loop,
                scenario=scenario.name,
                params=scenario.params,
                users=users,
                repeat=repeat,
                threads=self.threads,
                processes=_processes(variant, self.processes),
                rate=rate,
                reuse_port=reuse,
            )
            for scenario in self.scenarios
            for variant in scenario.variants or self.variants
            for reuse in (self.reuse_port if forks(variant) else (False,))
            for loop in scenario.loops or self.loops
            for users, rate in [(u, None) for u in scenario.users]
            + [(self.max_in_flight, r) for r in scenario.rates]
        ]


# One measurement: a variant on a loop under one scenario at one load level (results format).
Cell = CellSpec


def _processes(variant: str, configured: int) -> int:
    v = facts(variant)
    return v.processes(configured) if v is not None else 1


def _parse_scenario(
    c: Checker,
    raw: Any,
    where: str,
    defaults: tuple[tuple[int, ...], tuple[float, ...]],
    target: bool,
) -> ScenarioEntry:
    if not isinstance(raw, dict):
        raise c.fail(where, "must be a table")
    c.keys(raw, SCENARIO_KEYS, f"{where}.")
    sname = raw.get("name")
    if sname not in SCENARIOS:
        raise c.fail(
            f"{where}.name", f"unknown scenario {sname!r}; allowed: {', '.join(SCENARIOS)}"
        )
    spec = SCENARIOS[sname]
    given = raw.get("params", {})
    if not isinstance(given, dict):
        raise c.fail(f"{where}.params", "must be a table")
    for pname, value in given.items():
        key = f"{where}.params.{pname}"
        if pname not in spec.params:
            allowed = ", ".join(spec.params) or "none"
            raise c.fail(key, f"unknown parameter for {sname}; allowed: {allowed}")
        p = spec.params[pname]
        if isinstance(value, bool) or not isinstance(value, int):
            raise c.fail(key, f"must be an integer in {p.lo}..{p.hi}")
        if not p.lo <= value <= p.hi:
            raise c.fail(key, f"{value} is out of range; allowed {p.lo}..{p.hi}")
    params = spec.resolve(given)
    problem = cross_check(sname, params)
    if problem:
        raise c.fail(f"{where}.params", problem)
    users = c.users(raw["users"], f"{where}.users", empty=True) if "users" in raw else defaults[0]
    rates = c.rates(raw["rates"], f"{where}.rates") if "rates" in raw else defaults[1]
    if not users and not rates:
        raise c.fail(where, "has no load: give users (closed loop) and/or rates (open loop)")
    if target and ("variants" in raw or "loops" in raw):
        raise c.fail(f"{where}.variants", "a target suite loads one running server: no variants")
    variants = (
        c.names(raw["variants"], f"{where}.variants", VARIANT_NAMES) if "variants" in raw else ()
    )
    loops = c.names(raw["loops"], f"{where}.loops", LOOPS) if "loops" in raw else ()
    return ScenarioEntry(sname, params, users, variants, loops, rates)


def _parse_scenarios(
    c: Checker, data: dict[str, Any], subjects: tuple[str | None, tuple[str, ...], tuple[str, ...]]
) -> tuple[ScenarioEntry, ...]:
    target, variants, loops = subjects
    rates = c.rates(data["rates"], "rates") if "rates" in data else ()
    # Without rates, a suite is closed-loop at 10 users unless it says otherwise.
    users = c.users(data.get("users", [] if rates else [10]), "users", empty=bool(rates))
    raw_scenarios = data.get("scenarios")
    if not isinstance(raw_scenarios, list) or not raw_scenarios:
        raise c.fail("scenarios", "at least one [[scenarios]] table is required")
    scenarios: list[ScenarioEntry] = []
    for i, raw in enumerate(raw_scenarios):
        entry = _parse_scenario(c, raw, f"scenarios[{i}]", (users, rates), target is not None)

        def combos(e: ScenarioEntry) -> set[tuple[str, str]]:
            return {(v, lo) for v in e.variants or variants for lo in e.loops or loops}

        if any(e.label == entry.label and combos(e) & combos(entry) for e in scenarios):
            raise c.fail(f"scenarios[{i}]", f"duplicates scenario {entry.label}")
        scenarios.append(entry)
    return tuple(scenarios)


def _parse_subjects(
    c: Checker, data: dict[str, Any], source: str, allow_remote: bool
) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
    """target, variants and loops: either a running server, or built-in variants on loops."""
    target = data.get("target")
    if target is None:
        variants = c.names(data.get("variants", list(VARIANT_NAMES)), "variants", VARIANT_NAMES)
        return None, variants, c.names(data.get("loops", ["asyncio"]), "loops", LOOPS)
    if not isinstance(target, str):
        raise c.fail("target", "must be a URL string like http://127.0.0.1:PORT")
    if "variants" in data:
        raise c.fail("target", "give either target or variants, not both")
    return check_target(target, allow_remote, f"{source}: target"), (TARGET,), ("na",)


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


def _parse_open_loop(c: Checker, data: dict[str, Any]) -> dict[str, Any]:
    arrivals = data.get("arrivals", "constant")
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
    placement = data.get("placement", "split")
    if placement not in PLACEMENTS:
        raise c.fail("placement", f"must be one of: {', '.join(PLACEMENTS)}")
    target, variants, loops = _parse_subjects(c, data, source, allow_remote)
    server = data.get("server", {})
    if not isinstance(server, dict):
        raise c.fail("server", "must be a table with threads and/or processes")
    c.keys(server, SERVER_KEYS, "server.")
    repeats, max_repeats, target_ci = _parse_repeats(c, data)
    return Suite(
        name=name,
        description=description,
        duration_s=float(c.number(data.get("duration_s", 10), "duration_s", "duration_s", False)),
        warmup_s=float(c.number(data.get("warmup_s", 2), "warmup_s", "warmup_s", False)),
        repeats=repeats,
        max_repeats=max_repeats,
        target_ci_pct=target_ci,
        variants=variants,
        loops=loops,
        scenarios=_parse_scenarios(c, data, (target, variants, loops)),
        max_error_rate=float(
            c.number(data.get("max_error_rate", 0.01), "max_error_rate", "max_error_rate", False)
        ),
        threads=c.number(server.get("threads", 8), "server.threads", "threads"),
        processes=c.number(server.get("processes", 2), "server.processes", "processes"),
        reuse_port=_parse_reuse_port(c, server.get("reuse_port", False), variants),
        target=target,
        placement=placement,
        path=source,
        **_parse_open_loop(c, data),
    )


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
        suite = replace(
            suite, scenarios=tuple(replace(s, users=(), rates=levels) for s in suite.scenarios)
        )
    if duration_s is None:
        return suite
    lo, hi = RANGES["duration_s"]
    if not lo <= duration_s <= hi:
        raise UserError(f"--duration: {duration_s:g} is out of range; allowed {lo:g}..{hi:g}")
    data = suite.to_dict()
    data["duration_s"] = float(duration_s)
    return Suite.from_dict(data)


__all__ = ["Cell", "ScenarioEntry", "Suite", "load_suite", "parse_suite"]
