"""The window rule (record/window.py): a request counts when it completed inside
[start, end). One implementation, tested here once."""

from __future__ import annotations

import numpy as np
import pytest

from record.window import Window

T0 = 1_700_000_000.0


def test_a_request_counts_when_it_completed_inside_the_window() -> None:
    window = Window(T0 + 1, T0 + 3)
    # sent at:             warm-up  warm-up→in  inside   inside   at end (excl.)  tail
    starts = np.array([T0 + 0.4, T0 + 0.9, T0 + 1.4, T0 + 2.8, T0 + 2.9, T0 + 3.4])
    latency_ms = np.array([100.0, 200.0, 100.0, 100.0, 100.0, 100.0])
    assert list(window.holds(starts, latency_ms)) == [False, True, True, True, False, False]
    # The same rule on one request (scalars) as on arrays.
    assert window.holds(T0 + 0.9, 200.0)
    assert not window.holds(T0 + 2.9, 100.0)
    assert window.duration_s == 2.0


def test_intersection_is_where_every_generator_measured() -> None:
    a, b = Window(T0 + 1.0, T0 + 3.0), Window(T0 + 1.2, T0 + 3.1)
    assert a.intersect(b) == Window(T0 + 1.2, T0 + 3.0)
    assert Window(T0, T0 + 1).intersect(Window(T0 + 2, T0 + 3)).duration_s == 0.0


def test_a_window_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        Window(T0 + 2, T0 + 1)
