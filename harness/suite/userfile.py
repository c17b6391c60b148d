"""A user's own Locust file as a scenario (`[[scenarios]] file = "locustfile.py"`), checked
before the run without importing Locust (the harness never does: Locust monkey-patches on
import): the file is parsed with `ast`, never executed here.

The file runs unchanged, handed to Locust beside loadgen/locust_plugin.py (`-f user.py,plugin`),
so its requests are recorded, windowed and summarized like a built-in scenario's. Its `params`
reach it as `--name value` on Locust's command line; the file declares those options itself
with an `events.init_command_line_parser` listener, as Locust documents.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path
from typing import Any

from catalog.workloads import WORKLOADS
from harness.suite.apps import check_path
from harness.suite.checks import Checker

# Locust's own base classes: importing one of them does not bring a runnable User.
LOCUST_BASES = {"User", "HttpUser", "FastHttpUser"}
# Options the harness itself puts on Locust's command line (harness/processes/locust_cmd.py,
# loadgen/options.py): a parameter of the same name would clash with them.
HARNESS_OPTIONS = {
    "ms",
    "n",
    "f",
    "locustfile",
    "headless",
    "users",
    "u",
    "spawn-rate",
    "r",
    "run-time",
    "t",
    "host",
    "H",
    "csv",
    "only-summary",
    "loglevel",
    "L",
    "stop-timeout",
    "exit-code-on-error",
    "processes",
}
# Locust registers the file under its stem in sys.modules: a stem equal to a module the
# plugin or Locust imports would replace that module.
TAKEN_STEMS = {"locust", "gevent", "loadgen", "record", "servers", "locust_plugin"}
PARAM_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")
STEM_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
PARAM_RANGE = (-1_000_000_000, 1_000_000_000)


def _base_names(node: ast.ClassDef) -> list[str]:
    names = []
    for base in node.bases:
        if isinstance(base, ast.Name):
            names.append(base.id)
        elif isinstance(base, ast.Attribute):
            names.append(base.attr)
    return names


def _abstract(node: ast.ClassDef) -> bool:
    """`abstract = True` in the class body: Locust runs no user of that class."""
    for stmt in node.body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant):
            targets = [t.id for t in stmt.targets if isinstance(t, ast.Name)]
            if "abstract" in targets and stmt.value.value is True:
                return True
    return False


def user_classes(tree: ast.Module) -> tuple[list[str], list[str]]:
    """(names of runnable User classes, names of load shapes) the module defines or imports.
    A class counts as a User when a base is named like one (HttpUser, FastHttpUser, MyUser):
    without running the file, a name is all there is to go on."""
    users, shapes = [], []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            bases = _base_names(node)
            if any(b.endswith("Shape") for b in bases):
                shapes.append(node.name)
            elif any(b.endswith("User") for b in bases) and not _abstract(node):
                users.append(node.name)
        elif isinstance(node, ast.ImportFrom):
            users += [
                a.asname or a.name
                for a in node.names
                if a.name.endswith("User") and a.name not in LOCUST_BASES
            ]
    return users, shapes


def check_locustfile(c: Checker, value: Any, key: str, base: Path) -> tuple[Path, str]:
    """The file's absolute path and its source; every refusal is one line."""
    if not isinstance(value, str) or not value.endswith(".py"):
        raise c.fail(key, 'must be the path of a Locust file ending in .py, e.g. "locustfile.py"')
    path = (base / value).resolve()
    if not path.is_file():
        raise c.fail(key, f"{path} does not exist")
    if "," in str(path):
        raise c.fail(key, f"{path}: Locust splits -f on commas; use a path without one")
    stem = path.stem
    if not STEM_RE.match(stem):
        raise c.fail(
            key,
            f"{path.name}: the name (it names the scenario) must be letters, digits, '-' or '_'",
        )
    if stem in WORKLOADS or stem in TAKEN_STEMS or stem in sys.stdlib_module_names:
        raise c.fail(
            key,
            f"{path.name}: the name {stem!r} is taken by a built-in scenario or a module; "
            "rename the file",
        )
    try:
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, str(path))
    except SyntaxError as exc:
        raise c.fail(key, f"{path} line {exc.lineno}: {exc.msg}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise c.fail(key, f"{path}: cannot read ({exc})") from None
    users, shapes = user_classes(tree)
    if shapes:
        raise c.fail(key, f"{path}: defines a load shape ({shapes[0]}); the suite sets the load")
    if not users:
        raise c.fail(
            key,
            f"{path}: defines no Locust User class (a class deriving from HttpUser, "
            "FastHttpUser or User)",
        )
    return path, source


def check_params(c: Checker, value: Any, where: str, source: str) -> dict[str, int]:
    """Custom arguments for the file: integers (they become part of the cell id, like the
    built-in scenarios' ms50), each an option the file declares itself."""
    if not isinstance(value, dict):
        raise c.fail(where, "must be a table")
    lo, hi = PARAM_RANGE
    for name, v in value.items():
        key = f"{where}.{name}"
        if not PARAM_RE.match(name):
            raise c.fail(key, "a parameter name must be letters, digits, '-' or '_'")
        if name in HARNESS_OPTIONS or name.startswith("bench"):
            raise c.fail(key, f"--{name} is an option of the harness; choose another name")
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise c.fail(key, f"must be an integer in {lo}..{hi}")
        if not re.search(rf"--{re.escape(name)}(?![A-Za-z0-9_-])", source):
            raise c.fail(
                key,
                f"the Locust file never declares --{name}; add it in an "
                "@events.init_command_line_parser.add_listener function "
                f'(parser.add_argument("--{name}", type=int, ...))',
            )
    return dict(value)


def check_verify(c: Checker, value: Any, key: str) -> tuple[str, ...]:
    """Paths that must answer 2xx before the load starts."""
    if not isinstance(value, list) or not value:
        raise c.fail(key, 'must be a non-empty list of paths, e.g. ["/health", "/items/1"]')
    return tuple(check_path(c, v, key) for v in value)
