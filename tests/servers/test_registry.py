"""The registry joins every strategy's facts to its application; each workload's handlers are
chosen by Style from that workload's own table; and nothing else in servers/ decides anything
by a variant's name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from catalog import server_config, strategies
from catalog.server_config import ServerConfig
from catalog.strategies import BACKEND, LOOPS, Style
from servers import db, live, registry, techempower, upload
from tests.conftest import ROOT

SERVERS = ROOT / "servers"
# The only module of servers/ that may spell a variant's name.
NAMING_MODULES = {"registry.py"}


def test_registry_covers_exactly_the_facts() -> None:
    assert tuple(registry.STRATEGIES) == strategies.VARIANT_NAMES


@pytest.mark.parametrize(
    "table", [live.HANDLERS, upload.HANDLERS, db.HANDLERS, techempower.HANDLERS]
)
def test_every_workload_table_has_a_handler_for_every_style(table: dict[Style, object]) -> None:
    assert set(table) == set(Style)


@pytest.mark.parametrize("name", strategies.VARIANT_NAMES)
def test_each_application_routes_its_style_handlers(name: str) -> None:
    """The /db and /poll routes of a strategy's application are its Style's handlers."""
    app = registry.make_app(ServerConfig(variant=name))
    style = strategies.VARIANTS[name].style
    routed = {rule.matcher.regex.pattern: rule.target for rule in app.wildcard_router.rules}
    assert routed["/db$"] is db.HANDLERS[style]
    assert routed["/poll$"] is live.HANDLERS[style][1]
    assert routed["/te/queries$"] is techempower.HANDLERS[style]


def test_backend_and_unknown_names() -> None:
    app = registry.make_app(ServerConfig(variant=BACKEND))
    assert {r.matcher.regex.pattern for r in app.wildcard_router.rules} == {"/health$", "/delay$"}
    with pytest.raises(ValueError, match="unknown variant"):
        ServerConfig(variant="nosuch")


@pytest.mark.parametrize("name", strategies.VARIANT_NAMES)
def test_process_count_follows_the_forks_fact(name: str) -> None:
    config = ServerConfig(variant=name, processes=3)
    assert config.process_count == (3 if strategies.VARIANTS[name].forks else 1)


def test_reuse_port_is_refused_for_a_strategy_that_does_not_fork() -> None:
    with pytest.raises(ValueError, match="forking strategy"):
        ServerConfig(variant="coroutine", reuse_port=True)


@pytest.mark.parametrize(
    "config",
    [
        ServerConfig(variant="coroutine"),
        ServerConfig(
            variant="multiprocess",
            port=0,
            host="127.0.0.2",
            loop="uvloop",
            processes=3,
            threads=4,
            reuse_port=True,
            backend_url="http://127.0.0.1:9",
            db_url="postgresql://x@127.0.0.1/db",
            db_pool=7,
            max_backlog=5,
            http_client="curl",
            pool_processes=2,
            upload="streamed",
            max_upload_bytes=1234,
        ),
    ],
)
def test_the_command_line_reads_back_as_the_same_config(config: ServerConfig) -> None:
    """The harness writes a server's options as argv and the launcher parses them back: one
    contract, both ways."""
    port_file = Path("/tmp/port.json")
    assert server_config.parse(config.argv(port_file)) == (config, port_file)
    assert server_config.parse(config.argv()) == (config, None)


def test_loops_are_the_facts_loops() -> None:
    assert LOOPS == strategies.LOOPS


def string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value}


def test_no_variant_name_is_spelled_outside_the_registry() -> None:
    offenders = {
        f"{path.name}: {name}"
        for path in sorted(SERVERS.glob("*.py"))
        if path.name not in NAMING_MODULES
        for name in string_constants(path) & set(strategies.VARIANT_NAMES)
    }
    assert offenders == set()
