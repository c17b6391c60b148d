"""Profiles in the analysis: frames named and put in layers, top frames and layers, the flame
graph's SVG, the report's section and compare's frames that moved, on synthetic profiles
whose answers are known by hand."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

from analysis.compare import runs as compare
from analysis.compare.frames import HEAD
from analysis.profile import data, flame, readings
from analysis.profile.data import CPU_VIEW, WALL_VIEW
from analysis.profile.frames import DRIVER, HANDLER, HTTP, LOOP, REST, THREADS, name
from analysis.profile.shares import layer_time, moved, self_time
from analysis.report.build import build_report
from record.layout import CellLayout
from record.profile import OK, ProcessTime, ProfileRecord
from record.records import CellSpec
from record.stacks import Frame, Stack
from tests.analysis.fixtures import T0, cell, steady_requests, write_cell, write_run

ROOT = "/srv/app"
LIB = "/usr/lib/python3.11"
SITE = "/venv/lib/python3.11/site-packages"
FRAMES = {
    "handler": f"get ({ROOT}/handlers.py)",
    "loop": f"EpollSelector.select ({LIB}/selectors.py)",
    "wait": f"Condition.wait ({LIB}/threading.py)",
    "http": f"RequestHandler.finish ({SITE}/tornado/web.py)",
    "db": f"Cursor.execute ({SITE}/psycopg/cursor.py)",
    "json": f"JSONEncoder.encode ({LIB}/json/encoder.py)",
}


def frame(key: str) -> Frame:
    text = FRAMES[key]
    function, file = text[:-1].split(" (", 1)
    return Frame(function, file)


def test_frames_are_named_by_module_and_put_in_their_layer() -> None:
    roots = (ROOT,)
    assert name(frame("handler"), roots).label == "handlers.get"
    assert name(frame("handler"), roots).layer == HANDLER
    assert name(frame("loop"), roots).label == "selectors.EpollSelector.select"
    assert name(frame("loop"), roots).layer == LOOP
    assert name(frame("wait"), roots).layer == THREADS
    assert name(frame("http"), roots).label == "tornado.web.RequestHandler.finish"
    assert name(frame("http"), roots).layer == HTTP
    assert name(frame("db"), roots).layer == DRIVER
    assert name(frame("json"), roots).layer == REST
    loop_glue = Frame("BaseAsyncIOLoop.start", f"{SITE}/tornado/platform/asyncio.py")
    assert name(loop_glue, roots).layer == LOOP
    assert name(Frame("_run_code", "<frozen runpy>"), roots).label == "runpy._run_code"
    assert name(Frame("f", "mine/app.py"), roots).layer == HANDLER  # a short name: not a library
    assert name(Frame("wait", "threading.py"), roots).layer == THREADS
    assert name(None, roots).layer == REST


def stack(leaf: str, count: int, pid: int = 1, tid: int = 1) -> Stack:
    return Stack(
        pid, "srv", None, tid, "Main", (Frame("main", f"{ROOT}/app.py"), frame(leaf)), count
    )


def test_top_frames_and_layers_are_shares_of_self_time() -> None:
    stacks = [stack("handler", 60), stack("http", 30), stack("loop", 10)]
    top = self_time(stacks, (ROOT,))
    assert [(s.label, s.samples) for s in top] == [
        ("handlers.get", 60),
        ("tornado.web.RequestHandler.finish", 30),
        ("selectors.EpollSelector.select", 10),
    ]
    layers = layer_time(stacks, (ROOT,))
    assert (layers[HANDLER], layers[HTTP], layers[LOOP], layers[DRIVER]) == (0.6, 0.3, 0.1, 0.0)
    shift = moved({"a": 0.5, "b": 0.3}, {"a": 0.2, "b": 0.305, "c": 0.1})
    assert [(m.label, round(m.change, 2)) for m in shift] == [("a", -0.3), ("c", 0.1)]


def test_the_flame_graph_is_one_well_formed_svg_with_every_name_escaped() -> None:
    odd = Stack(1, "srv", None, 1, "Main", (Frame("<lambda>", f"{ROOT}/a&b.py"),), 50)
    tiny = stack("json", 1)  # 1 of 301 samples: under MIN_SHARE, left out
    text = flame.svg([stack("handler", 250), odd, tiny], (ROOT,), "a <title>")
    root = ET.fromstring(text)  # well formed
    assert root.tag.endswith("svg")
    assert "<script" not in text and "href" not in text
    assert "a&amp;b.&lt;lambda&gt;" in text and "a &lt;title&gt;" in text
    titles = [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert any(t.startswith("handlers.get (handler): 250 samples") for t in titles), titles
    assert not any("json" in t for t in titles)
    assert flame.svg([], ()) == ""


def write_profile(
    cell_dir: Path, cpu: dict[str, int], wall: dict[str, int], gil_wait: float = 0.0
) -> None:
    layout = CellLayout(cell_dir)
    for view, counts in ((CPU_VIEW, cpu), (WALL_VIEW, wall)):
        lines = [
            f"thread (1): MainThread;main ({ROOT}/app.py);{FRAMES[leaf]} {n}\n"
            for leaf, n in counts.items()
        ]
        layout.profile_stacks(view).write_text("".join(lines))
    ticks = sum(wall.values())
    ProfileRecord(
        status=OK,
        target="server",
        rate_hz=100,
        started=T0 + 1,
        ended=T0 + 3,
        processes=(
            ProcessTime(
                7, "srv", None, ticks, ticks, sum(cpu.values()), 1.0, 0.5, gil_wait, 0.1, 0.4, 0.6
            ),
        ),
        roots=(ROOT,),
        root_pid=7,
    ).write(cell_dir)


def profiled_run(path: Path) -> tuple[CellSpec, CellSpec]:
    sync, coroutine = cell("sync", users=10), cell("coroutine", users=10)
    write_run(path, [sync, coroutine])
    for c, rate in ((sync, 150), (coroutine, 190)):
        write_cell(path, c, requests=steady_requests(rate, 50, T0, T0 + 4))
    write_profile(
        path / "cells" / sync.cell_id, {"handler": 70, "http": 30}, {"handler": 80, "wait": 20}
    )
    write_profile(
        path / "cells" / coroutine.cell_id, {"http": 60, "loop": 40}, {"loop": 90, "http": 10}
    )
    return sync, coroutine


def test_the_report_shows_where_the_time_goes(tmp_path: Path) -> None:
    profiled_run(tmp_path)
    html = build_report(tmp_path).report_path.read_text()
    assert "Where the time goes" in html
    assert html.count("<svg") >= 4 and 'class="flame"' in html  # CPU and threads, both cells
    assert "handler 70 %, Tornado HTTP 30 %" in html  # sync's CPU by layer, one line
    assert "Tornado HTTP 60 %, event loop 40 %" in html
    # What sets the slower strategy apart from the faster one, both ways, in each view.
    assert (
        "coroutine spends 40 % of its CPU in selectors.EpollSelector.select (sync 0.0 %); "
        "sync 70 % in handlers.get (coroutine 0.0 %)"
    ) in html
    assert "coroutine spends 90 % of its threads&#x27; time in selectors.EpollSelector" in html


def test_a_run_without_profiles_has_no_section(tmp_path: Path) -> None:
    c = cell("sync")
    write_run(tmp_path, [c])
    write_cell(tmp_path, c, requests=steady_requests(100, 50, T0, T0 + 4))
    assert "Where the time goes" not in build_report(tmp_path).report_path.read_text()


def test_time_line_reads_each_state_and_a_refused_profile_says_why(tmp_path: Path) -> None:
    write_profile(tmp_path, {"handler": 10}, {"handler": 10}, gil_wait=1.25)
    profile = data.load(tmp_path)
    assert profile is not None
    line = readings.time_line(profile.record)
    assert line.startswith("threads: 0.50 holding the GIL, 1.25 waiting for it")
    refused = ProfileRecord("refused", "server", 100, 1.0, 2.0, reason="the kernel refused")
    assert readings.time_line(refused) == "no profile: the kernel refused"
    assert math.isnan(readings.gil_wait(refused))


def test_compare_names_the_frames_that_moved_in_a_changed_configuration(tmp_path: Path) -> None:
    for side, rate, cpu in (
        ("base", 100, {"handler": 50, "http": 50}),
        ("new", 60, {"handler": 20, "http": 30, "db": 50}),
    ):
        c = cell("coroutine")
        write_run(tmp_path / side, [c])
        write_cell(tmp_path / side, c, requests=steady_requests(rate, 50, T0, T0 + 4))
        write_profile(tmp_path / side / "cells" / c.cell_id, cpu, cpu)
    result = compare.compare_runs(tmp_path / "base", tmp_path / "new")
    assert result.frames[0] == HEAD
    (line,) = result.frames[1:]
    assert line.startswith("  coroutine-asyncio-sleep-ms50-u10 (req/s -40%): ")
    assert "psycopg.cursor.Cursor.execute 0.0 % → 50 % (+50 pts)" in line
    assert "handlers.get 50 % → 20 % (-30 pts)" in line
    assert HEAD in compare.format_comparison(result)


def test_compare_without_profiles_prints_no_frames(tmp_path: Path) -> None:
    for side, rate in (("base", 100), ("new", 60)):
        c = cell("coroutine")
        write_run(tmp_path / side, [c])
        write_cell(tmp_path / side, c, requests=steady_requests(rate, 50, T0, T0 + 4))
    result = compare.compare_runs(tmp_path / "base", tmp_path / "new")
    assert result.frames == ()
    assert HEAD not in compare.format_comparison(result)
