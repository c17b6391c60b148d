"""Where a Locust process runs its load: it starts on every core and moves onto the
generator's once imported (loadgen/cpu.py place_self, harness/processes/locust_cmd.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.processes.locust_cmd import LoadSpec, locust_argv, worker_argv
from loadgen.cpu import cpu_set

ROOT = Path(__file__).resolve().parents[2]


def test_cpu_set_reads_core_numbers_and_refuses_others() -> None:
    assert cpu_set("1") == (1,)
    assert cpu_set("3,0, 1") == (0, 1, 3)
    assert cpu_set("") == ()
    with pytest.raises(ValueError, match="core numbers separated by commas"):
        cpu_set("one")
    with pytest.raises(ValueError, match="start at 0"):
        cpu_set("-1")


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two usable cores")
def test_place_self_moves_every_thread_started_before() -> None:
    """A thread started before the move is moved too (sched_setaffinity alone moves only the
    calling thread), and so is one started after. Run in a child: it pins itself."""
    target = min(os.sched_getaffinity(0))
    script = textwrap.dedent(
        f"""
        import os, threading
        from loadgen.cpu import place_self
        stop = threading.Event()
        early = threading.Thread(target=stop.wait)
        early.start()
        place_self(({target},))
        late = threading.Thread(target=stop.wait)
        late.start()
        sets = {{
            tid: os.sched_getaffinity(int(tid)) for tid in os.listdir("/proc/self/task")
        }}
        stop.set()
        print(len(sets), sorted({{tuple(sorted(s)) for s in sets.values()}}))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split(" ", 1) == ["3", f"[({target},)]\n"]


def test_local_locust_processes_are_told_the_generator_cores(tmp_path: Path) -> None:
    load = LoadSpec(base_url="http://127.0.0.1:1", users=1, duration_s=1)
    placed = locust_argv(scenario_file=Path("x.py"), cell_dir=tmp_path, load=load, cpus={3, 1})
    assert placed[placed.index("--bench-cpus") + 1] == "1,3"
    assert "--bench-cpus" not in locust_argv(
        scenario_file=Path("x.py"), cell_dir=tmp_path, load=load
    )
    worker = worker_argv("x.py", "127.0.0.1", 5557, (1,))
    assert worker[worker.index("--bench-cpus") + 1] == "1"
    # A remote worker (run_bench.py worker) stays where its own machine put it.
    assert "--bench-cpus" not in worker_argv("x.py", "127.0.0.1", 5557)
