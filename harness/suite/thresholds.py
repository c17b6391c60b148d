"""`[[thresholds]]` tables of a suite file → checked Threshold records (record/thresholds.py).

Every refusal is one line naming the file, the threshold's key and what is allowed: an unknown
metric, both or neither of max and min, a selector the suite has no cell for."""

from __future__ import annotations

from typing import Any

from harness.suite.checks import Checker
from harness.suite.scenarios import ScenarioEntry, SubjectSet
from record.thresholds import METRICS, Threshold

THRESHOLD_KEYS = {"metric", "max", "min", "variants", "scenario", "users", "rates", "abort_on_fail"}


def parse_thresholds(
    c: Checker, value: Any, subjects: SubjectSet, scenarios: tuple[ScenarioEntry, ...]
) -> tuple[Threshold, ...]:
    """The suite's thresholds, each checked against the cells the suite will run."""
    if not isinstance(value, list) or any(not isinstance(t, dict) for t in value):
        raise c.fail("thresholds", "must be [[thresholds]] tables")
    return tuple(_one(c, t, f"thresholds[{i}]", subjects, scenarios) for i, t in enumerate(value))


def _one(
    c: Checker,
    t: dict[str, Any],
    where: str,
    subjects: SubjectSet,
    scenarios: tuple[ScenarioEntry, ...],
) -> Threshold:
    c.keys(t, THRESHOLD_KEYS, f"{where}.")
    metric = t.get("metric")
    if metric not in METRICS:
        raise c.fail(f"{where}.metric", f"unknown metric {metric!r}; allowed: {', '.join(METRICS)}")
    if ("max" in t) == ("min" in t):
        raise c.fail(f"{where}.max", "give exactly one of max or min")
    bound = "max" if "max" in t else "min"
    limit = t[bound]
    if isinstance(limit, bool) or not isinstance(limit, int | float):
        raise c.fail(f"{where}.{bound}", "must be a number")
    abort = t.get("abort_on_fail", False)
    if not isinstance(abort, bool):
        raise c.fail(f"{where}.abort_on_fail", "must be true or false")
    names = sorted({v for s in scenarios for v in subjects.of(s)})
    variants = c.names(t["variants"], f"{where}.variants", names) if "variants" in t else ()
    chosen = [s for s in scenarios if not variants or set(variants) & set(subjects.of(s))]
    scenario = t.get("scenario")
    if scenario is not None:
        known = sorted({s.name for s in chosen} | {s.label for s in chosen})
        if scenario not in known:
            raise c.fail(
                f"{where}.scenario",
                f"no such scenario {scenario!r} among the cells selected; allowed: "
                + ", ".join(known),
            )
        chosen = [s for s in chosen if scenario in (s.name, s.label)]
    users = c.users(t["users"], f"{where}.users") if "users" in t else ()
    rates = c.rates(t["rates"], f"{where}.rates") if "rates" in t else ()
    for key, asked, offered in (
        ("users", users, {u for s in chosen for u in s.users}),
        ("rates", rates, {r for s in chosen for r in s.rates}),
    ):
        missing = [x for x in asked if x not in offered]
        if missing:
            allowed = ", ".join(f"{x:g}" for x in sorted(offered)) or "none"
            raise c.fail(
                f"{where}.{key}", f"no selected cell runs {missing[0]:g}; allowed: {allowed}"
            )
    return Threshold(
        metric=metric,
        max=float(limit) if bound == "max" else None,
        min=float(limit) if bound == "min" else None,
        variants=variants,
        scenario=scenario,
        users=users,
        rates=rates,
        abort_on_fail=abort,
    )
