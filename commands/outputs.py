"""The CI output options of `run`, `report` and `compare` (argparse only: building the parser
must not import pandas), and the paths they name. Each output path is checked when the command line is read, before
anything starts: a run of hours must not end in "cannot write" and lose its verdict."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from record.errors import UserError


def writable_file(option: str) -> Callable[[str], Path]:
    """An argparse type for a file the command writes at its end: refused now, in the
    words the write would use, when it is a folder, lies under a file, or its folder (or the
    nearest one that exists, where the missing ones will be made) cannot be written."""

    def check(text: str) -> Path:
        path = Path(text)
        if path.is_dir():
            raise UserError(f"{option}: cannot write {path} (it is a folder)")
        if path.exists():
            if not os.access(path, os.W_OK):
                raise UserError(f"{option}: cannot write {path} (permission denied)")
            return path
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            raise UserError(f"{option}: cannot write {path} ({folder} is not a folder)")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise UserError(f"{option}: cannot write {path} ({folder}: permission denied)")
        return path

    return check


def add_output_options(parser: Any, what: str) -> None:
    parser.add_argument(
        "--junit",
        type=writable_file("--junit"),
        metavar="FILE",
        help=f"write JUnit XML for CI: {what} (missing folders are made)",
    )
    parser.add_argument(
        "--summary-md",
        type=writable_file("--summary-md"),
        metavar="FILE",
        help="write a Markdown job summary to FILE (missing folders are made); it is also "
        "appended to $GITHUB_STEP_SUMMARY whenever that variable is set (GitHub Actions)",
    )
