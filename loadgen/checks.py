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
