"""From raw samples and parts to the cell's figures (harness/collect.py), in-process."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from harness.collect import cpu_figures, merge_records
from loadgen.parts import read_part, write_part
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


def test_parts_are_merged_split_by_the_window_and_removed(tmp_path: Path) -> None:
    # worker 0 measured [T0+1, T0+3), worker 1 started a little later: [T0+1.2, T0+3.2)
    nan = float("nan")
    rows0 = [(T0 + 0.5, 10.0, "/a", 200, 5, True, nan), (T0 + 2.0, 10.0, "/a", 500, 5, False, nan)]
    rows1 = [
        (T0 + 1.5, 10.0, "/b", 200, 7, True, T0 + 1.49),
        (T0 + 3.1, 10.0, "/b", 200, 7, True, nan),
    ]
    for worker, rows, start in ((0, rows0, T0 + 1), (1, rows1, T0 + 1.2)):
        write_part(tmp_path / f"raw.w{worker}.part", rows, worker)
        meta = {"window_start": start, "window_end": start + 2}
        (tmp_path / f"locust_window.w{worker}.json").write_text(json.dumps(meta))
    assert len(read_part(tmp_path / "raw.w1.part")) == 2
    window, parts = merge_records(tmp_path)
    assert parts == 2
    assert window == Window(T0 + 1.2, T0 + 3)
    inside = pd.read_parquet(tmp_path / "requests.parquet")
    outside = pd.read_parquet(tmp_path / "outside.parquet")
    assert list(inside["endpoint"]) == ["/b", "/a"]  # sorted by start, both workers
    assert list(inside["worker"]) == [1, 0] and list(inside["ok"]) == [True, False]
    assert inside["intended_start"].iloc[0] == T0 + 1.49 and inside["intended_start"].isna().iloc[1]
    assert len(outside) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "outside.parquet",
        "requests.parquet",
        "slots.parquet",  # one request carried a slot: an open-loop cell
    ]
    # Result files follow the umask like any file, not mkstemp's 0600.
    mask = os.umask(0)
    os.umask(mask)
    for p in tmp_path.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask, p.name


def test_a_lost_worker_and_a_dead_server_process_are_problems() -> None:
    from harness.collect import problems

    rows = []
    for i in range(10):  # samples every 0.5 s across [T0 + 0.5, T0 + 5]
        t = T0 + 0.5 + i * 0.5
        rows.append((t, "server", 7, 50.0, 0))
        if t < T0 + 2.0:  # pid 8 stops being seen 1 s into the window: it died
            rows.append((t, "server", 8, 50.0, 0))
        else:
            rows.append((t, "server", 9, 50.0, 0))  # its replacement
    samples = pd.DataFrame(rows, columns=["t", "role", "pid", "cpu_pct", "rss_bytes"])
    found = problems(samples, Window(T0 + 1, T0 + 4), parts=1, workers=2)
    assert found[0] == "Locust worker lost: 1 of 2 wrote no records"
    assert found[1].startswith("server process 8 died during the window at 0.5 s")
    assert len(found) == 2  # 7 ran throughout; 9 started late, which is no death
    assert problems(samples[samples["pid"] == 7], Window(T0 + 1, T0 + 4), parts=2, workers=2) == ()


def test_open_loop_slots_count_unanswered_ones_as_waiting_until_the_stop(tmp_path: Path) -> None:
    nan = float("nan")
    rows = [
        (T0 + 1.5, 20.0, "/a", 200, 5, True, T0 + 1.5),  # on time, answered in 20 ms
        (T0 + 1.62, 20.0, "/a", 200, 5, True, T0 + 1.6),  # 20 ms late
        (T0 + 2.5, nan, "", 0, 0, False, T0 + 2.5),  # sent, no answer by the stop
        (nan, nan, "", 0, 0, False, T0 + 2.9),  # never sent
        (nan, nan, "", 0, 0, False, T0 + 3.5),  # after the window: not a slot of it
    ]
    write_part(tmp_path / "raw.part", rows, 0)
    meta = {"window_start": T0 + 1, "window_end": T0 + 3, "stopped_at": T0 + 3.25}
    (tmp_path / "locust_window.json").write_text(json.dumps(meta))
    merge_records(tmp_path)
    slots = pd.read_parquet(tmp_path / "slots.parquet")
    assert list(slots["answered"]) == [True, True, False, False]
    assert list(slots["corrected_ms"]) == pytest.approx([20.0, 40.0, 750.0, 350.0])
    assert list(slots["late"]) == [False, True, False, True]
    inside = pd.read_parquet(tmp_path / "requests.parquet")
    outside = pd.read_parquet(tmp_path / "outside.parquet")
    assert len(inside) == 2 and len(outside) == 0  # unanswered slots are no requests
