"""What a cell's process logs say, in one line for a cell's reason."""

from __future__ import annotations

import re
from pathlib import Path

# A line naming an exception: any class whose name ends in Error or Exception, the bare ones
# too (`tornado.options.Error: ...`, `Exception: boom`), or a traceback's head.
ERROR_LINE = re.compile(r"\b(?:[A-Z]\w*)?(?:Error|Exception)\b|Traceback")


def read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def tail(path: Path, lines: int = 3) -> str:
    text = read(path).strip().splitlines()
    # A log that names an error (Locust prints its stats table after it) gives that line; else
    # the end is kept: a traceback's last line names the error.
    errors = [line for line in text if ERROR_LINE.search(line)]
    chosen = errors[-lines:] if errors else text[-lines:]
    return " | ".join(line.strip() for line in chosen)[-400:]
