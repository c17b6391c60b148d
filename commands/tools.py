"""`list`, `init` and `serve`: what there is to run, a suite to start from, one server."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from catalog import server_config
from catalog.paths import PROJECT_ROOT
from commands.common import EXIT_OK
from record.errors import UserError

# What `init` writes: a small Tornado app with a blocking and an async mode, its Locust file
# and a suite comparing them. Kept as real files in examples/ so that ruff checks them and
# they can be read in place; outside harness/, which must never hold a file importing Locust.
EXAMPLE_DIR = PROJECT_ROOT / "examples" / "own_service"
EXAMPLE_FILES = ("app.py", "locustfile.py", "suite.toml")


def cmd_list(args: argparse.Namespace) -> int:
    from catalog.paths import SUITE_DIR
    from catalog.strategies import VARIANTS
    from catalog.workloads import WORKLOADS
    from harness.suite.parse import load_suite
    from harness.timing import estimate_s

    print("variants:")
    for v in VARIANTS.values():
        print(f"  {v.name:14} {v.summary}")
    print("scenarios:")
    for s in WORKLOADS.values():
        params = ", ".join(f"{k}={p.lo}..{p.hi} (default {p.default})" for k, p in s.params.items())
        backend = " [starts the backend]" if s.needs_backend else ""
        print(f"  {s.name:14} {s.summary}{backend}" + (f"; {params}" if params else ""))
    print("suites:")
    for path in sorted(SUITE_DIR.glob("*.toml")):
        try:
            suite = load_suite(str(path))
        except UserError as exc:
            print(f"  {path.stem:14} INVALID: {exc}")
            continue
        cells = suite.cells()
        minutes = estimate_s(suite.warmup_s, suite.duration_s, cells) / 60
        print(f"  {suite.name:14} {len(cells):5} cells  ~{minutes:6.1f} min  {suite.description}")
    return EXIT_OK


def cmd_init(args: argparse.Namespace) -> int:
    import shutil

    target: Path = args.dir
    if target.exists() and not target.is_dir():
        raise UserError(f"init: {target} is a file, not a folder")
    taken = [name for name in EXAMPLE_FILES if (target / name).exists()]
    if taken:
        raise UserError(f"init: {target / taken[0]} exists; choose a new or empty folder")
    target.mkdir(parents=True, exist_ok=True)
    for name in EXAMPLE_FILES:
        shutil.copyfile(EXAMPLE_DIR / name, target / name)
    print(f"wrote {', '.join(str(target / n) for n in EXAMPLE_FILES)}")
    print(f"run it:  python run_bench.py run {target / 'suite.toml'}")
    print(
        "then point suite.toml's [[apps]] command at your service, and its file at your Locust file"
    )
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    """The launcher in this process, with the options the user gave (the same as `python -m
    servers` takes: catalog/server_config.py)."""
    from servers import launch

    try:
        config, port_file = server_config.from_args(args)
    except ValueError as exc:
        raise UserError(f"serve: {exc}") from None
    return launch.main(config.argv(port_file))


def add_tools(sub: Any) -> None:
    lst = sub.add_parser("list", help="variants, scenarios, suites with cell counts and time")
    lst.set_defaults(func=cmd_list)

    init = sub.add_parser(
        "init",
        help="write an example app, its Locust file and a suite to start from",
        description="Write a small Tornado app with a blocking and an async mode (app.py), its "
        "Locust file (locustfile.py) and a suite comparing the two (suite.toml) into DIR: the "
        "shape of a suite for your own service ([[apps]] and [[scenarios]] file = ...).",
    )
    init.add_argument("dir", type=Path, metavar="DIR", help="folder to write into (created)")
    init.set_defaults(func=cmd_init)

    serve = sub.add_parser(
        "serve",
        help="run one server variant in the foreground",
        description="Run one server variant (or the upstream backend) in the foreground, with "
        "every option `python -m servers` takes: poke it by hand, or load it with a suite's "
        "`target`. Ctrl-C stops it.",
    )
    server_config.add_options(serve)
    serve.set_defaults(func=cmd_serve)
