"""From raw samples and the Locust side's summary to the cell's figures (harness/outcome.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from harness.outcome import cpu_figures, reconcile
from record.window import Window

T0 = 1_700_000_000.0
WINDOW = Window(T0 + 1, T0 + 3)


def _samples(rows: list[tuple[str, int, float]]) -> pd.DataFrame:
    """The same (role, pid, cpu %) at three instants inside the window and one after it."""
    out = []
    for t in (T0 + 1.5, T0 + 2.0, T0 + 2.5):
        out += [(t, role, pid, cpu, 0) for role, pid, cpu in rows]
    out += [(T0 + 9, role, pid, 99.0, 0) for role, pid, _ in rows]  # outside: ignored
    return pd.DataFrame(out, columns=["t", "role", "pid", "cpu_pct", "rss_bytes"])


def test_two_generators_at_45_percent_on_one_core_are_saturated() -> None:
    cpu = cpu_figures(_samples([("locust", 1, 45.0), ("locust", 2, 45.0)]), WINDOW, 1)
    assert cpu.loadgen_pct == pytest.approx(45.0)  # no process looks busy on its own
    assert cpu.loadgen_core_pct == pytest.approx(90.0)  # but the core is full
    assert cpu.loadgen_total_pct == pytest.approx(90.0)


def test_a_generator_idling_at_30_percent_is_not_and_the_backend_counts() -> None:
    idle = cpu_figures(_samples([("locust", 1, 30.0), ("server", 7, 80.0)]), WINDOW, 1)
    assert idle.loadgen_core_pct == pytest.approx(30.0)
    shared = cpu_figures(_samples([("locust", 1, 30.0), ("backend", 3, 50.0)]), WINDOW, 1)
    assert shared.loadgen_core_pct == pytest.approx(80.0)
    two_cores = cpu_figures(_samples([("locust", 1, 60.0), ("locust", 2, 60.0)]), WINDOW, 2)
    assert two_cores.loadgen_core_pct == pytest.approx(60.0)


def test_server_shares_per_process() -> None:
    cpu = cpu_figures(_samples([("server", 7, 90.0), ("server", 8, 10.0)]), WINDOW, 1)
    assert cpu.server_shares == {"7": pytest.approx(0.9), "8": pytest.approx(0.1)}
    assert cpu.server_pct == pytest.approx(100.0)


def test_a_lost_worker_and_a_dead_server_process_are_problems() -> None:
    from harness.outcome import problems

    rows = []
    for i in range(10):  # samples every 0.5 s across [T0 + 0.5, T0 + 5]
        t = T0 + 0.5 + i * 0.5
        rows.append((t, "server", 7, 50.0, 0))
        if t < T0 + 2.0:  # pid 8 stops being seen 1 s into the window: it died
            rows.append((t, "server", 8, 50.0, 0))
        else:
            rows.append((t, "server", 9, 50.0, 0))  # its replacement
    samples = pd.DataFrame(rows, columns=["t", "role", "pid", "cpu_pct", "rss_bytes"])
    found = problems(samples, Window(T0 + 1, T0 + 4))
    assert found[0].startswith("server process 8 died during the window at 0.5 s")
    assert len(found) == 1  # 7 ran throughout; 9 started late, which is no death
    assert problems(samples[samples["pid"] == 7], Window(T0 + 1, T0 + 4)) == ()


def test_a_worker_reported_cpu_counts_for_saturation() -> None:
    # A remote worker is not sampled here: only its own figure says it was busy.
    cpu = cpu_figures(_samples([("locust", 1, 20.0)]), WINDOW, 1, reported=(20.0, 95.0))
    assert cpu.loadgen_pct == pytest.approx(95.0) and cpu.loadgen_core_pct == pytest.approx(95.0)


def test_counts_reconcile_within_a_tenth_of_a_percent() -> None:
    assert reconcile(5000, 5000) == ([], [])
    problems, notes = reconcile(5133, 4233)  # the stats file's count, rewritten once a second
    assert problems == ["5133 records vs Locust's count of 4233 (21.26% apart)"] and not notes
    problems, notes = reconcile(10_000, 10_005)
    assert not problems and notes == ["10000 records vs Locust's count of 10005 (0.05% apart)"]
    assert reconcile(10, None) == ([], [])
