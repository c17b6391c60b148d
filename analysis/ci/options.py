"""The CI output options of `run`, `report` and `compare` (argparse only: building the parser
must not import pandas)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def add_output_options(parser: Any, what: str) -> None:
    parser.add_argument(
        "--junit",
        type=Path,
        metavar="FILE",
        help=f"write JUnit XML for CI: {what}",
    )
    parser.add_argument(
        "--summary-md",
        type=Path,
        metavar="FILE",
        help="write a Markdown job summary to FILE; it is also appended to "
        "$GITHUB_STEP_SUMMARY whenever that variable is set (GitHub Actions)",
    )
