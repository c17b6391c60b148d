"""The registry joins every strategy's facts to its application, and nothing else in
servers/ decides anything by a variant's name."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from servers import registry, variants
from servers.config import LOOPS, ServerConfig
from tests.conftest import ROOT

SERVERS = ROOT / "servers"
# The only modules that may spell a variant's name.
# workloads.py names the fanout *workload* (the scenario), which shares the strategy's name.
NAMING_MODULES = {"variants.py", "registry.py", "workloads.py"}


def test_registry_covers_exactly_the_facts() -> None:
    assert tuple(registry.VARIANTS) == variants.VARIANT_NAMES


@pytest.mark.parametrize("name", variants.VARIANT_NAMES)
def test_registry_takes_everything_but_the_app_from_the_facts(name: str) -> None:
    variant = registry.VARIANTS[name]
    facts = variants.VARIANTS[name]
    assert variant.facts is facts
    assert (variant.name, variant.summary) == (facts.name, facts.summary)
    assert (variant.forks, variant.concurrent_fanout) == (facts.forks, facts.concurrent_fanout)
    assert registry.get_variant(name) is variant


def test_backend_and_unknown_names() -> None:
    assert registry.get_variant("backend") is registry.BACKEND
    assert registry.BACKEND.name not in registry.VARIANTS
    with pytest.raises(ValueError, match="unknown variant"):
        registry.get_variant("nosuch")


@pytest.mark.parametrize("name", variants.VARIANT_NAMES)
def test_process_count_follows_the_forks_fact(name: str) -> None:
    config = ServerConfig(variant=name, processes=3)
    assert config.process_count == (3 if variants.VARIANTS[name].forks else 1)


def test_loops_are_the_facts_loops() -> None:
    assert LOOPS == variants.LOOPS


def string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value}


def test_no_variant_name_is_spelled_outside_the_facts_and_registry() -> None:
    offenders = {
        f"{path.name}: {name}"
        for path in sorted(SERVERS.glob("*.py"))
        if path.name not in NAMING_MODULES
        for name in string_constants(path) & set(variants.VARIANT_NAMES)
    }
    assert offenders == set()


def test_variants_and_config_load_no_tornado() -> None:
    code = "import sys, servers.variants, servers.config; sys.exit('tornado' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=30)
    assert result.returncode == 0
