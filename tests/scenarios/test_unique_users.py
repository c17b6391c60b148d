"""A remote worker (run_bench.py worker) loads every built-in scenario file at once and spawns
the user class each cell's master names, so no two scenario files may define a user class of
the same name (Locust refuses to start: "Duplicate user class names")."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"


def test_user_class_names_are_unique_across_scenario_files() -> None:
    names = Counter(
        node.name
        for path in SCENARIO_DIR.glob("*.py")
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.ClassDef)
    )
    assert len(names) >= 7
    assert [n for n, count in names.items() if count > 1] == []


def test_every_scenario_loads_in_one_locust_process() -> None:
    """What a remote worker starts with: Locust lists every user class and exits cleanly (an
    option declared twice, or a duplicate class, would stop it)."""
    import os
    import subprocess
    import sys

    from harness.remote_worker import scenario_files

    root = SCENARIO_DIR.parent
    plugin = root / "loadgen" / "locust_plugin.py"
    out = subprocess.run(
        [sys.executable, "-m", "locust", "-f", f"{scenario_files()},{plugin}", "--list"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    # Locust logs an exception in an event handler (an option two files declare) and goes on
    # to list the classes; the worker then dies at its first spawn. Nothing may be logged.
    assert "Traceback" not in out.stderr, out.stderr[-2000:]
    assert "HelloUser" in out.stdout and "SleepUser" in out.stdout
