"""The profile's pieces without a server: py-spy's collapsed lines read back, each process's
time split four ways from known samples and clocks, py-spy's command line, the [profile]
suite table, and profile.json written and read."""

from __future__ import annotations

import math
import os
import time
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from harness.processes import procs, profiler
from harness.processes.profiler import Clock, split_time
from harness.suite.parse import Suite, load_suite, parse_suite
from record import stacks
from record.errors import UserError
from record.layout import CellLayout
from record.profile import (
    DEFAULT_RATE_HZ,
    GIL,
    OK,
    REFUSED,
    ProcessTime,
    ProfileRecord,
    ProfileSettings,
)
from record.stacks import Frame, Stack

MINIMAL = 'name = "p"\nvariants = ["sync"]\nusers = [1]\n[[scenarios]]\nname = "hello"\n'


def test_a_collapsed_line_names_its_process_thread_and_frames() -> None:
    line = (
        'process 10:"python -m servers sync";process 11:"python -c \\"a; b\\"";'
        "thread (3): MainThread;main (/srv/app.py);work (/srv/app.py) 7"
    )
    s = stacks.parse_line(line)
    assert s == Stack(
        11,
        'python -c \\"a; b\\"',
        10,
        3,
        "MainThread",
        (Frame("main", "/srv/app.py"), Frame("work", "/srv/app.py")),
        7,
    )
    alone = stacks.parse_line("thread (0x7F): worker;f (a.py) 2", root_pid=42)
    assert alone is not None and (alone.pid, alone.tid, alone.parent) == (42, 0x7F, None)
    assert stacks.parse_line("no count here") is None
    assert stacks.parse_line("f (a.py);g (b.py) 3") is None  # no thread frame: not py-spy's


def test_speedscope_has_one_profile_per_view_and_process() -> None:
    a = Stack(1, "srv", None, 1, "Main", (Frame("f", "a.py"), Frame("g", "a.py")), 3)
    b = Stack(2, "srv", 1, 2, "Main", (Frame("f", "a.py"),), 1)
    doc = stacks.speedscope({"wall": [a, b], "gil": [a]}, "cell")
    assert [p["name"] for p in doc["profiles"]] == [
        "wall: pid 1 srv",
        "wall: pid 2 srv",
        "gil: pid 1 srv",
    ]
    assert doc["shared"]["frames"] == [{"name": "f", "file": "a.py"}, {"name": "g", "file": "a.py"}]
    assert doc["profiles"][0]["samples"] == [[0, 1]] and doc["profiles"][0]["weights"] == [3]


def _stack(tid: int, count: int, leaf: str = "work", pid: int = 1) -> Stack:
    return Stack(
        pid, "srv", None, tid, f"t{tid}", (Frame("main", "a.py"), Frame(leaf, "a.py")), count
    )


def test_one_thread_never_waits_for_the_gil() -> None:
    """A single-threaded server that held the GIL 60 % of the ticks and ran 90 % of the time:
    the other 30 % is time in system calls, never waiting for the GIL."""
    wall = [_stack(1, 100)]
    gil = [_stack(1, 60)]
    before = {(1, 1): Clock(10.0, 1.0)}
    after = {(1, 1): Clock(10.0 + 0.8, 1.0 + 0.1)}
    (p,) = split_time(wall, gil, before, after, span_s=1.0)
    assert (p.ticks, p.samples, p.gil_samples) == (100, 100, 60)
    assert p.threads == pytest.approx(1.0)
    assert p.gil == pytest.approx(0.6)
    assert p.gil_wait == 0.0
    assert p.running == pytest.approx(0.3)
    assert p.idle == pytest.approx(0.1)
    assert p.cpu == pytest.approx(0.8)


def test_threads_runnable_while_another_holds_the_gil_wait_for_it() -> None:
    """Four threads in pure Python on one core: each holds the GIL a quarter of the ticks and
    is runnable the rest (the kernel's clock), so three wait at any moment."""
    wall = [_stack(t, 100) for t in range(1, 5)]
    gil = [_stack(t, 25) for t in range(1, 5)]
    before = {(1, t): Clock(0.0, 0.0) for t in range(1, 5)}
    after = {(1, t): Clock(0.25, 0.75) for t in range(1, 5)}
    (p,) = split_time(wall, gil, before, after, span_s=1.0)
    assert p.threads == pytest.approx(4.0)
    assert p.gil == pytest.approx(1.0)
    assert p.gil_wait == pytest.approx(3.0)
    assert p.running == pytest.approx(0.0)
    assert p.idle == pytest.approx(0.0)
    assert p.cpu == pytest.approx(1.0)


def test_ticks_py_spy_could_not_read_count_as_ticks_and_in_the_gil_view_as_held(
    tmp_path: Path,
) -> None:
    """100 wall ticks read and 100 lost: 200 ticks. 50 GIL samples read and 50 lost: the
    thread held the GIL at 100 of them."""
    (p,) = split_time([_stack(1, 100)], [_stack(1, 50)], {}, {}, 1.0, lost=(100, 50))
    assert p.ticks == 100 and p.gil == pytest.approx(0.5)
    log = tmp_path / "profiler-wall.log"
    log.write_text("py-spy> Wrote raw flamegraph data to 'x'. Samples: 213 Errors: 270\n")
    assert profiler.errors(log) == 270
    assert profiler.errors(tmp_path / "none.log") == 0


def test_without_a_threads_clock_its_time_is_holding_or_idle() -> None:
    (p,) = split_time([_stack(1, 10), _stack(2, 10)], [_stack(1, 4)], {}, {}, 1.0)
    assert (p.gil, p.gil_wait, p.running, p.idle) == pytest.approx((0.4, 0.0, 0.0, 1.6))
    assert math.isnan(p.cpu)


def test_each_process_is_split_on_its_own() -> None:
    wall = [_stack(1, 50, pid=1), _stack(7, 50, pid=2)]
    gil = [_stack(7, 50, pid=2)]
    first, second = split_time(wall, gil, {}, {}, 1.0)
    assert (first.pid, first.gil, first.idle) == (1, 0.0, pytest.approx(1.0))
    assert (second.pid, second.gil) == (2, pytest.approx(1.0))


def test_py_spy_is_asked_for_one_view_without_pausing_the_server(tmp_path: Path) -> None:
    argv = profiler.command("py-spy", 42, GIL, 50, tmp_path / "o.txt", 2.5, True)
    assert argv[:4] == ["py-spy", "record", "--pid", "42"]
    assert {"--nonblocking", "--threads", "--gil", "--subprocesses", "--full-filenames"} <= set(
        argv
    )
    assert argv[argv.index("--rate") + 1] == "50"
    assert argv[argv.index("--format") + 1] == "raw"
    assert int(argv[argv.index("--duration") + 1]) == 3 + profiler.BACKSTOP_S
    assert "--subprocesses" not in profiler.command("py-spy", 1, "wall", 1, tmp_path, 1, False)


def test_the_profile_table_of_a_suite() -> None:
    assert load_suite("smoke").profile == ProfileSettings()
    assert ProfileSettings().rate_hz == DEFAULT_RATE_HZ
    off = parse_suite(tomllib.loads(MINIMAL + "[profile]\nenabled = false\n"), "s.toml")
    assert not off.profile.enabled
    slow = parse_suite(tomllib.loads(MINIMAL + "[profile]\nrate_hz = 20\n"), "s.toml")
    assert slow.profile == ProfileSettings(rate_hz=20)
    assert Suite.from_dict(slow.to_dict()).profile == slow.profile
    older = slow.to_dict()
    del older["profile"]  # a run.json from before profiles
    assert Suite.from_dict(older).profile == ProfileSettings()


@pytest.mark.parametrize(
    "table, key",
    [
        ("rate_hz = 0", "profile.rate_hz"),
        ("rate_hz = 5000", "profile.rate_hz"),
        ('rate_hz = "fast"', "profile.rate_hz"),
        ("enabled = 1", "profile.enabled"),
        ("speed = 1", "profile.speed"),
    ],
)
def test_a_wrong_profile_table_is_refused_by_key(table: str, key: str) -> None:
    with pytest.raises(UserError, match=key.replace(".", r"\.")):
        parse_suite(tomllib.loads(MINIMAL + f"[profile]\n{table}\n"), "s.toml")


def test_profile_json_round_trips(tmp_path: Path) -> None:
    record = ProfileRecord(
        status=OK,
        target="server",
        rate_hz=100,
        started=10.0,
        ended=12.0,
        processes=(
            ProcessTime(5, "srv", None, 200, 400, 150, 2.0, 0.75, 0.5, 0.1, 0.65, math.nan),
        ),
        profiler_cpu_s=0.1,
        roots=("/srv",),
        root_pid=5,
    )
    record.write(tmp_path)
    back = ProfileRecord.read(tmp_path)
    assert back is not None
    assert back.processes[0].gil == 0.75 and math.isnan(back.processes[0].cpu)
    assert (back.span_s, back.ticks, back.roots, back.root_pid) == (2.0, 200, ("/srv",), 5)
    lossy = replace(record, wall_errors=200)
    assert (lossy.attempted, lossy.read_share) == (400, 0.5)
    assert ProfileRecord.read(tmp_path / "none") is None


def test_a_refused_py_spy_leaves_one_warning_line_and_a_profile_that_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """As an ordinary user the kernel may refuse py-spy another process's memory: py-spy
    says so and exits; the cell goes on, its profile.json says why, the run warns once."""
    fake = tmp_path / "py-spy"
    fake.write_text(
        "#!/bin/sh\necho 'Permission Denied: Try running again with elevated permissions'\nexit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setattr(profiler, "executable", lambda: str(fake))
    monkeypatch.setattr(profiler, "_warned", set())
    started: list[procs.Child] = []
    for n in range(2):  # two cells: one warning line
        cell = CellLayout(tmp_path / f"cell{n}")
        cell.root.mkdir()
        now = time.time()
        run = profiler.ProfileRun(
            ProfileSettings(), (os.getpid(),), cell, (0,), now, now + 1.0, started.append
        )
        run.step()
        assert len(run.samplings) == 2
        for s in run.samplings:  # refused at once, long before the window's end
            s.child.popen.wait(timeout=10)
        record = run.finish()
        assert record is not None and record.status == REFUSED, record
        assert "ptrace" in record.reason
        back = ProfileRecord.read(cell.root)
        assert back is not None and (back.status, back.reason) == (REFUSED, record.reason)
        assert not cell.profile_stacks(GIL).exists()
    warnings = [line for line in capsys.readouterr().err.splitlines() if "cannot profile" in line]
    assert len(warnings) == 1, warnings
    assert procs.live({c.pid for c in started}) == set()
    for child in started:  # as the cell's teardown does: reaped, its log closed
        child.stop()
