#!/usr/bin/env python3
"""tornado-bench: which Tornado concurrency strategy for which work, with numbers you can defend.

With no arguments, runs the default suite (suites/quick.toml) and builds its report. The
subcommands live in commands/.
"""

from __future__ import annotations

import sys

from commands.main import main

if __name__ == "__main__":
    sys.exit(main())
