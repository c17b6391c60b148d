"""The [[scenarios]] tables of a suite: a built-in scenario by `name`, or the user's own Locust
file by `file`; the load levels; and which subjects (built-in variants, apps) each runs on.

Default subjects: a built-in scenario calls endpoints only the built-in variants are known to
have (/sleep, /cpu, ...), so it runs on the suite's variants (on its apps when it has no
variants: an app may serve those endpoints too); a user's file calls the user's endpoints,
so it runs on the apps (on the variants, or the target, when there are no apps). A
scenario's own `variants` list, which may name apps, overrides both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catalog import workloads
from catalog.strategies import LOOPS
from catalog.workloads import WORKLOADS
from harness.suite import limits
from harness.suite.checks import Checker
from harness.suite.userfile import check_locustfile, check_params, check_verify
from record.schema import scenario_label

SCENARIO_KEYS = {
    "name",
    "file",
    "params",
    "users",
    "rates",
    "variants",
    "loops",
    "verify",
    "headline",
}
NA_LOOP = "na"  # the loop of a cell whose server chooses its own (a target, an app)


@dataclass(frozen=True)
class ScenarioEntry:
    name: str  # a built-in scenario's name, or the stem of the user's Locust file
    params: dict[str, int]
    users: tuple[int, ...]
    # A scenario may run on a subset of the suite's subjects, or on other loops (for
    # example uvloop beside asyncio for one strategy only); the defaults otherwise.
    variants: tuple[str, ...] = ()
    loops: tuple[str, ...] = ()
    rates: tuple[float, ...] = ()  # open-loop offered req/s, beside or instead of users
    file: str = ""  # the user's Locust file (absolute path); "" for a built-in scenario
    verify: tuple[str, ...] = ()  # a user file's paths that must answer 2xx before the load
    # The records that are each cell's figures (record.records.CellSettings.headline); ()
    # for all of them.
    headline: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return scenario_label(self.name, self.params)

    @property
    def locustfile(self) -> Path:
        return Path(self.file) if self.file else WORKLOADS[self.name].locustfile

    @classmethod
    def from_dict(cls, s: dict[str, Any]) -> ScenarioEntry:
        return cls(
            s["name"],
            dict(s["params"]),
            tuple(s["users"]),
            tuple(s.get("variants", ())),
            tuple(s.get("loops", ())),
            tuple(s.get("rates", ())),
            str(s.get("file", "")),
            tuple(s.get("verify", ())),
            tuple(s.get("headline", ())),
        )


@dataclass(frozen=True)
class SubjectSet:
    """What a suite loads: a running target, or built-in variants (on loops) and apps."""

    target: str | None
    variants: tuple[str, ...]
    loops: tuple[str, ...]
    apps: tuple[str, ...] = ()

    def default_for(self, entry: ScenarioEntry) -> tuple[str, ...]:
        if entry.file:
            return self.apps or self.variants
        return self.variants or self.apps

    def of(self, entry: ScenarioEntry) -> tuple[str, ...]:
        return entry.variants or self.default_for(entry)

    def loops_of(self, entry: ScenarioEntry, subject: str) -> tuple[str, ...]:
        """An app chooses its own loop (as a target does): one cell, loop "na"."""
        return (NA_LOOP,) if subject in self.apps else entry.loops or self.loops

    def pairs(self, entry: ScenarioEntry) -> set[tuple[str, str]]:
        return {(v, lo) for v in self.of(entry) for lo in self.loops_of(entry, v)}


def _builtin(c: Checker, raw: dict[str, Any], where: str) -> tuple[str, dict[str, int]]:
    sname = raw.get("name")
    if sname not in WORKLOADS:
        raise c.fail(
            f"{where}.name",
            f'unknown scenario {sname!r}; allowed: {", ".join(WORKLOADS)}, or file = "..."',
        )
    if "verify" in raw:
        raise c.fail(
            f"{where}.verify", "applies to a Locust file; built-in scenarios verify themselves"
        )
    spec = WORKLOADS[sname]
    given = raw.get("params", {})
    if not isinstance(given, dict):
        raise c.fail(f"{where}.params", "must be a table")
    for pname, value in given.items():
        problem = spec.param_problem(pname, value)
        if problem:
            raise c.fail(f"{where}.params.{pname}", problem)
    params = spec.resolve(given)
    problem = WORKLOADS[sname].cross_check(params)
    if problem:
        raise c.fail(f"{where}.params", problem)
    return sname, params


def _user_file(
    c: Checker, raw: dict[str, Any], where: str, base: Path
) -> tuple[str, dict[str, int], str, tuple[str, ...]]:
    if "name" in raw:
        raise c.fail(f"{where}.name", "give either name (a built-in scenario) or file, not both")
    path, source = check_locustfile(c, raw["file"], f"{where}.file", base)
    params = check_params(c, raw.get("params", {}), f"{where}.params", source)
    verify = check_verify(c, raw["verify"], f"{where}.verify") if "verify" in raw else ()
    return path.stem, params, str(path), verify


def _parse_scenario(
    c: Checker,
    raw: Any,
    where: str,
    defaults: tuple[tuple[int, ...], tuple[float, ...], bool],  # users, rates, users given
    subjects: SubjectSet,
    base: Path,
) -> ScenarioEntry:
    if not isinstance(raw, dict):
        raise c.fail(where, "must be a table")
    c.keys(raw, SCENARIO_KEYS, f"{where}.")
    file = ""
    verify: tuple[str, ...] = ()
    if "file" in raw:
        sname, params, file, verify = _user_file(c, raw, where, base)
    else:
        sname, params = _builtin(c, raw, where)
    if not file and WORKLOADS[sname].live:
        given = raw.get("params", {})
        if defaults[2] and "connections" not in given:
            # The suite's users apply to request scenarios; a long-lived one would silently
            # hold its default connections instead of what the suite seems to ask.
            raise c.fail(
                f"{where}.params.connections",
                f"{sname} holds one connection per user: its load is params.connections "
                f"({params['connections']} by default), not the suite's users; give "
                "params = { connections = N }",
            )
        users, rates = _live_load(c, raw, where, params, workloads.live(sname))
    else:
        # A scenario that gives only rates means open loop: it inherits users only when the
        # suite set them itself, never the closed-loop default of a suite that set none.
        inherited = defaults[0] if defaults[2] or "rates" not in raw else ()
        users = c.users(raw["users"], f"{where}.users", empty=True) if "users" in raw else inherited
        rates = c.rates(raw["rates"], f"{where}.rates") if "rates" in raw else defaults[1]
    if not users and not rates:
        raise c.fail(where, "has no load: give users (closed loop) and/or rates (open loop)")
    if subjects.target is not None and ("variants" in raw or "loops" in raw):
        raise c.fail(f"{where}.variants", "a target suite loads one running server: no variants")
    allowed = (*subjects.variants, *subjects.apps)
    variants = c.names(raw["variants"], f"{where}.variants", allowed) if "variants" in raw else ()
    loops = c.names(raw["loops"], f"{where}.loops", LOOPS) if "loops" in raw else ()
    headline = _headline(c, raw["headline"], f"{where}.headline") if "headline" in raw else ()
    entry = ScenarioEntry(sname, params, users, variants, loops, rates, file, verify, headline)
    apps = [s for s in subjects.of(entry) if s in subjects.apps]
    if not file and WORKLOADS[sname].needs_backend and apps:
        raise c.fail(
            where,
            f"{sname} needs the built-in backend, which an app is not connected to ({apps[0]}); "
            "list the built-in variants it runs on in variants = [...]",
        )
    return entry


def _headline(c: Checker, value: Any, key: str) -> tuple[str, ...]:
    """Endpoint names, or "TYPE name", each once."""
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and v.strip() == v and v for v in value)
    ):
        raise c.fail(
            key,
            "must be a non-empty list of endpoint names as your Locust file names them, or "
            '"TYPE name", e.g. ["/updates", "POST /messages"]',
        )
    if len(set(value)) != len(value):
        raise c.fail(key, "names an endpoint twice")
    return tuple(value)


def _live_load(
    c: Checker, raw: dict[str, Any], where: str, params: dict[str, int], live: str
) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """A long-lived scenario's load is its connections (one user each), within the limits
    (a WebSocket client spreads them over several loopback source addresses)."""
    for key in ("users", "rates"):
        if key in raw:
            raise c.fail(f"{where}.{key}", "a long-lived scenario's load is params.connections")
    problem = limits.limit_problem(params["connections"], sources=limits.sources_for(live))
    if problem:
        raise c.fail(f"{where}.params.connections", problem)
    return (params["connections"],), ()


def parse_scenarios(
    c: Checker, data: dict[str, Any], subjects: SubjectSet, base: Path
) -> tuple[ScenarioEntry, ...]:
    rates = c.rates(data["rates"], "rates") if "rates" in data else ()
    # Without rates, a suite is closed-loop at 10 users unless it says otherwise.
    users = c.users(data.get("users", [] if rates else [10]), "users", empty=bool(rates))
    raw_scenarios = data.get("scenarios")
    if not isinstance(raw_scenarios, list) or not raw_scenarios:
        raise c.fail("scenarios", "at least one [[scenarios]] table is required")
    scenarios: list[ScenarioEntry] = []
    for i, raw in enumerate(raw_scenarios):
        defaults = (users, rates, "users" in data)
        entry = _parse_scenario(c, raw, f"scenarios[{i}]", defaults, subjects, base)
        if not subjects.of(entry):
            raise c.fail(f"scenarios[{i}]", "runs on nothing: the suite has no variants or apps")
        if any(
            e.label == entry.label and subjects.pairs(e) & subjects.pairs(entry) for e in scenarios
        ):
            raise c.fail(f"scenarios[{i}]", f"duplicates scenario {entry.label}")
        scenarios.append(entry)
    return tuple(scenarios)
