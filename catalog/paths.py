"""The project's own folders, written once. The harness starts servers, Locust and its own
helpers with the project root on their path and as their working folder, and finds the
suites, scenarios and results folder beside it; a module's depth in the tree must not decide
where those are."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SUITE_DIR = PROJECT_ROOT / "suites"
SCENARIO_DIR = PROJECT_ROOT / "scenarios"
RESULTS_DIR = PROJECT_ROOT / "results"
