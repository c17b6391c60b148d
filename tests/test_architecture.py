"""The rooms of the tree and which way imports may flow (docs/architecture.md):
run_bench → commands → harness/analysis → loadgen/scenarios → record → catalog. The catalogue
(the benchmark's vocabulary) imports no other room and no Tornado or Locust; servers/, the
subject under test, is imported by nobody but the `serve` command; inside harness and
analysis, each package stands on its floor. Checked on the source, so an import hidden
inside a function counts too."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PROJECT = (
    *("run_bench", "commands", "harness", "analysis", "record", "servers", "scenarios"),
    *("loadgen", "catalog"),
)
LOAD = {"locust", "gevent"}
# package → top-level names its modules must never import
FORBIDDEN = {
    "commands": {"loadgen", "scenarios", "run_bench", *LOAD},
    # (analysis renders report.html with tornado.template, Tornado's template engine)
    "analysis": {"commands", "harness", "scenarios", "loadgen", "servers", *LOAD},
    "harness": {"commands", "analysis", "loadgen", "scenarios", "servers", "run_bench"}
    | {"tornado", *LOAD},
    "record": {*PROJECT} - {"record", "catalog"} | {"pandas", "tornado", *LOAD},
    "catalog": {*PROJECT} - {"catalog"} | {"pandas", "pyarrow", "tornado", *LOAD},
    "servers": {"commands", "harness", "analysis", "scenarios", "loadgen", "run_bench", *LOAD},
    "loadgen": {"commands", "harness", "analysis", "scenarios", "servers", "run_bench"}
    | {"tornado"},
    "scenarios": {"commands", "harness", "analysis", "servers", "run_bench", "tornado"},
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
    "harness.suite": {"processes", "cell", "runner", "calibrate", "connections", "outcome"},
    "harness.processes": {"suite", "cell", "runner", "calibrate", "connections", "outcome"},
}


# room → for a project room it may import only parts of: the modules it may take from it
# (docs/architecture.md's table): the servers' launcher for `serve`, the Locust files' checks
# and the Users they are built on (websocket-client's, the lean HTTP user, the held WebSocket
# and long-poll users); never the recorder or the roles.
ONLY = {
    "commands": {"servers": {"launch"}},
    "scenarios": {
        "loadgen": {
            "checks",
            "websocket_user",
            "http_user",
            "held_user",
            "wsclient",
            "http_client",
            "users",
        }
    },
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
    """`serve` is the one command that imports the servers; the scenario files take their
    checks and the WebSocket user from the Locust side."""
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


def test_the_catalogue_loads_neither_tornado_nor_locust() -> None:
    """Every room may import the catalogue because importing it starts nothing and loads no
    framework: checked in a fresh interpreter."""
    modules = sorted(p.stem for p in (ROOT / "catalog").glob("*.py") if p.stem != "__init__")
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module('catalog.' + m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tornado', 'locust', 'gevent', 'pandas', 'psycopg'))\n"
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
    """Variant facts are asked of catalog/strategies.py, never read off a name. ("fanout" is
    also a scenario's name, so only comparisons that involve a variant count.)"""
    names = ("sync", "coroutine", "threadpool", "fanout", "multiprocess", "gencoroutine")
    homes = {ROOT / "catalog" / "strategies.py", ROOT / "servers" / "registry.py"}
    found = []
    for package in (
        "catalog",
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
        "catalog",
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
    catalog/workloads.py, never read off a scenario's name: no comparison of a scenario with a
    workload's name, no module constant naming workloads (CPU_SCENARIOS, ENQUEUE = "enqueue"),
    no second DEFAULT_DB_POOL. Comparisons that involve a variant are the variant rule's
    ("fanout" is both a strategy and a workload)."""
    from catalog.workloads import WORKLOAD_NAMES

    upper = {n.upper().replace("-", "_") for n in WORKLOAD_NAMES}
    # the home, and the maker of synthetic runs, whose scenario names are data
    skip = {
        ROOT / "catalog" / "workloads.py",
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
                second_pool = name == "DEFAULT_DB_POOL" and path != ROOT / "catalog" / "limits.py"
                if named or second_pool:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    assert found == []


def test_every_workload_has_its_locust_file_and_every_locust_file_a_workload() -> None:
    """A workload without its Locust file could not run; a Locust file of scenarios/ that no
    workload names would be one nobody measures."""
    from catalog.workloads import WORKLOADS

    files = {w.locustfile for w in WORKLOADS.values()}
    assert all(f.is_file() for f in files)
    shipped = {p for p in (ROOT / "scenarios").glob("*.py") if p.stem != "__init__"}
    helpers = {ROOT / "scenarios" / f"{m}.py" for m in ("db", "te")}  # shared by the db files
    assert shipped - helpers == files
