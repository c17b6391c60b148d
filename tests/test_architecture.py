"""The rooms of the tree and which way imports may flow (docs/architecture.md):
run_bench → commands → harness → servers/scenarios/loadgen; analysis reads the results format
(record/) only; record/ depends on nothing of the project; inside harness and analysis, each
package stands on its floor. Checked on the source, so an import hidden inside a function
counts too."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PROJECT = (
    *("run_bench", "commands", "harness", "analysis", "record", "servers", "scenarios"),
    "loadgen",
)
# package → top-level names its modules must never import
FORBIDDEN = {
    "commands": {"loadgen", "scenarios", "locust", "gevent", "run_bench"},
    "analysis": {"commands", "harness", "scenarios", "loadgen", "locust", "gevent"},
    "harness": {"commands", "analysis", "loadgen", "scenarios", "locust", "gevent", "run_bench"},
    "record": {*PROJECT} - {"record"} | {"pandas", "locust", "gevent", "tornado"},
    "servers": {"commands", "harness", "analysis", "scenarios", "loadgen", "locust", "gevent"}
    | {"run_bench"},
    "loadgen": {"commands", "harness", "analysis", "scenarios", "run_bench"},
    "scenarios": {"commands", "harness", "analysis", "run_bench"},
}
# Inside a room, a part never imports one on a floor above it (docs/architecture.md): the
# analysis pipeline's flat modules → readings/ and compare/ → figures/ → report/ → ci/;
# in harness, suite/ (suite file → cell matrix) and processes/ (what a cell starts) stand
# side by side below the cell and the runner.
ANALYSIS_PACKAGES = {"readings", "figures", "report", "compare", "ci", "history"}
ABOVE = {
    "analysis": ANALYSIS_PACKAGES,  # the flat pipeline modules
    "analysis.readings": ANALYSIS_PACKAGES - {"readings"},
    "analysis.compare": ANALYSIS_PACKAGES - {"compare"},
    "analysis.figures": {"report", "compare", "ci", "history"},
    "analysis.report": {"ci", "history"},
    "harness.suite": {"processes", "cell", "runner", "calibrate", "connections", "collect"},
    "harness.processes": {"suite", "cell", "runner", "calibrate", "connections", "collect"},
}


# room → for a project room it may import only parts of: the modules it may take from it
# (docs/architecture.md's table). Each of these is free of Tornado and Locust.
ONLY = {
    "analysis": {"servers": {"variants", "workloads", "lifeline"}},
    "loadgen": {"servers": {"lifeline", "fdlimit"}},
    "scenarios": {"servers": {"work", "livework"}, "loadgen": {"checks", "websocket_user"}},
}


def imported_modules(path: Path) -> set[str]:
    """Every absolute module name the file imports (`from a import b` also counts a.b)."""
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_flow_one_way(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, package
    bad = {str(f.relative_to(ROOT)): sorted(imported_roots(f) & FORBIDDEN[package]) for f in files}
    assert {f: names for f, names in bad.items() if names} == {}


@pytest.mark.parametrize("package", sorted(ONLY))
def test_rooms_take_only_the_modules_their_table_allows(package: str) -> None:
    """analysis reads servers' facts (variants, workloads) and lifeline only; the Locust side
    takes lifeline; the scenario files take their checks and the CPU work they send."""
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in imported_modules(path):
            root, _, rest = name.partition(".")
            allowed = ONLY[package].get(root)
            if allowed is None or not rest:
                continue  # a room it may not import at all is FORBIDDEN's; `import servers`
            if rest.split(".")[0] not in allowed:
                bad.append(f"{path.relative_to(ROOT)}: {name}")
    assert bad == []


def _part(path: Path) -> str:
    """'analysis.readings' for analysis/readings/cost.py; 'analysis' for analysis/load.py."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:2]) if len(parts) > 2 else parts[0]


@pytest.mark.parametrize("part", sorted(ABOVE))
def test_each_package_stands_on_its_floor(part: str) -> None:
    room, _, package = part.partition(".")
    files = (
        sorted((ROOT / room / package).rglob("*.py"))
        if package
        else [p for p in sorted((ROOT / room).glob("*.py"))]
    )
    assert files, part
    bad = []
    for path in files:
        for name in imported_modules(path):
            top, _, rest = name.partition(".")
            if top == room and rest.split(".")[0] in ABOVE[part]:
                bad.append(f"{path.relative_to(ROOT)}: {name}")
    assert bad == []


def test_variant_facts_load_neither_tornado_nor_locust() -> None:
    assert imported_roots(ROOT / "servers" / "variants.py") <= {"__future__", "math", "dataclasses"}
    assert imported_roots(ROOT / "servers" / "workloads.py") <= {"__future__", "dataclasses"}
    code = (
        "import sys, servers.variants, servers.workloads\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tornado', 'locust', 'gevent'))\n"
        "sys.exit(str(bad) if bad else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _mentions(node: ast.AST, word: str) -> bool:
    for sub in ast.walk(node):
        name = sub.id if isinstance(sub, ast.Name) else getattr(sub, "attr", "")
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and word in sub.value:
            return True  # row["variant"], summary["scenario_name"]
        if word in str(name):
            return True
    return False


def _mentions_variant(node: ast.AST) -> bool:
    return _mentions(node, "variant")


def test_no_variant_name_is_compared_as_a_string_outside_its_home() -> None:
    """Variant facts are asked of servers/variants.py, never read off a name. ("fanout" is
    also a scenario's name, so only comparisons that involve a variant count.)"""
    names = ("sync", "coroutine", "threadpool", "fanout", "multiprocess", "gencoroutine")
    homes = {ROOT / "servers" / "variants.py", ROOT / "servers" / "registry.py"}
    found = []
    for package in (
        "commands",
        "harness",
        "analysis",
        "record",
        "servers",
        "loadgen",
        "run_bench.py",
    ):
        target = ROOT / package
        for path in [target] if target.is_file() else sorted(target.rglob("*.py")):
            if path in homes:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                isin = isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "isin"
                if (isinstance(node, ast.Compare) or isin) and _mentions_variant(node):
                    consts = [
                        c.value
                        for c in ast.walk(node)
                        if isinstance(c, ast.Constant) and c.value in names
                    ]
                    if consts:
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno} {consts}")
    assert found == []


def _product_files(skip: set[Path]) -> list[Path]:
    out = []
    for package in (
        "commands",
        "harness",
        "analysis",
        "record",
        "servers",
        "loadgen",
        "run_bench.py",
    ):
        target = ROOT / package
        out += [target] if target.is_file() else sorted(target.rglob("*.py"))
    return [p for p in out if p not in skip]


def _name_constants(node: ast.AST, names: tuple[str, ...]) -> list[str]:
    return [c.value for c in ast.walk(node) if isinstance(c, ast.Constant) and c.value in names]


def test_no_workload_name_is_compared_as_a_string_outside_its_home() -> None:
    """Workload facts (kind of work, backend, database, backlog, pool size) are asked of
    servers/workloads.py, never read off a scenario's name: no comparison of a scenario with a
    workload's name, no module constant naming workloads (CPU_SCENARIOS, ENQUEUE = "enqueue"),
    no second DEFAULT_DB_POOL. Comparisons that involve a variant are the variant rule's
    ("fanout" is both a strategy and a workload)."""
    from servers.workloads import WORKLOAD_NAMES

    upper = {n.upper().replace("-", "_") for n in WORKLOAD_NAMES}
    # the home, and the maker of synthetic runs, whose scenario names are data
    skip = {
        ROOT / "servers" / "workloads.py",
        ROOT / "analysis" / "synthetic.py",
        ROOT / "analysis" / "history" / "synthetic.py",
    }
    found = []
    for path in _product_files(skip):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            isin = isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "isin"
            compare = isinstance(node, ast.Compare) or isin
            about_scenario = _mentions(node, "scenario") and not _mentions_variant(node)
            if compare and about_scenario and (consts := _name_constants(node, WORKLOAD_NAMES)):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {consts}")
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else []
            for name in (t.id for t in targets if isinstance(t, ast.Name)):
                spelled = _name_constants(node.value, WORKLOAD_NAMES)
                named = spelled and ("SCENARIO" in name or name in upper)
                if named or name == "DEFAULT_DB_POOL":
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    assert found == []


def test_every_scenario_has_its_workload_facts() -> None:
    """A scenario of the catalog without an entry in servers/workloads.py would be modelled,
    charted and started as a user's own file."""
    from harness.suite.catalog import SCENARIOS
    from servers.workloads import WORKLOADS

    assert sorted(SCENARIOS) == sorted(WORKLOADS)
