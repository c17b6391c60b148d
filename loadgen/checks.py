"""Body and status checks the scenario files share: a fast wrong answer is a failure, not a
result."""

from __future__ import annotations

from typing import Any


def expect(response: Any, *, contains: bytes | None = None, status: int = 200) -> None:
    """Mark a catch_response response failed unless its status and body are right."""
    if response.status_code != status:
        response.failure(f"status {response.status_code}")
    elif contains is not None and contains not in (response.content or b""):
        response.failure("unexpected body")
    else:
        response.success()


def add_option(parser: Any, flag: str, **kwargs: Any) -> None:
    """Declare a scenario's Locust option unless another scenario file loaded in the same
    process already has. A remote worker (run_bench.py worker) loads every scenario file at
    once, and several share an option (--bytes: stream, upload and the WebSocket users;
    --interval_ms: the long-lived ones); argparse refuses a second declaration. The harness
    passes every parameter of a cell on Locust's command line, so the default that stands
    is only ever used when a file runs on its own."""
    if flag not in parser._option_string_actions:
        parser.add_argument(flag, **kwargs)
