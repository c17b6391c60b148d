"""Charts, report, load and compare on synthetic runs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from analysis.compare import runs as compare
from analysis.load import load_run
from analysis.report.build import build_report
from record import schema
from record.errors import UserError
from tests.analysis.fixtures import T0, cell, noisy_run, steady_requests, write_cell, write_run

CHARTS = {"throughput", "latency", "spectrum", "timeseries", "cpu", "cost", "fanout", "strategies"}


def make_run(path, scale: float = 1.0, seed: int = 0):  # type: ignore[no-untyped-def]
    """A run with every chart's material: two wait variants at two loads, a fan-out sweep,
    one failed cell."""
    rng = np.random.default_rng(seed)
    cells = []
    specs = []
    for variant, rate in (("sync", 19.0), ("coroutine", 180.0)):
        for users in (1, 10):
            c = cell(variant, users=users)
            r = rate * (users / 10 if variant == "coroutine" else 1) * scale
            specs.append((c, r, 50 + rng.exponential(5)))
    for variant in ("coroutine", "fanout"):
        for n in (1, 4):
            c = cell(variant, users=10, scenario="fanout", params={"n": n, "ms": 50})
            latency = 50.0 * (n if variant == "coroutine" else 1)
            specs.append((c, 10 / (latency / 1000) * 0.9 * scale, latency))
    cells.extend(c for c, _, _ in specs)
    failed = cell("threadpool", users=10)
    cells.append(failed)
    write_run(path, cells)
    for c, r, latency in specs:
        reqs = steady_requests(r, latency, T0 + 1, T0 + 3)
        reqs["latency_ms"] = latency + rng.exponential(2.0, len(reqs))
        warm = steady_requests(r, latency, T0, T0 + 1)
        write_cell(path, c, requests=reqs, outside=warm)
    write_cell(
        path,
        failed,
        requests=None,
        window=None,
        status="failed",
        reason="verification failed: GET /sleep?ms=50: status 500",
    )
    return cells


def test_report_has_every_chart_and_cell(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cells = make_run(tmp_path)
    result = build_report(tmp_path)
    assert {c.name for c in result.charts} == CHARTS
    for name in CHARTS:
        png = tmp_path / "charts" / f"{name}.png"
        with Image.open(png) as img:
            img.verify()
        with Image.open(png) as img:
            width, height = img.size
        assert 400 <= width <= 4000 and 300 <= height <= 3000, (name, img.size)
        svg = (tmp_path / "charts" / f"{name}.svg").read_text()
        assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    page = result.report_path.read_text()
    for c in cells:
        assert c.cell_id in page
    # Every chart is in the page: drawn from its data (its PNG linked, and shown without
    # JavaScript) or, for the bar charts, as its PNG inline.
    drawn = {"throughput", "latency", "spectrum", "timeseries", "cpu"}
    for name in drawn:
        assert f"<div class='ichart' data-chart='{name}'" in page
        assert f"src='charts/{name}.png'" in page
    assert page.count("<noscript><img ") == len(drawn)
    assert page.count("data:image/png;base64,") == len(CHARTS - drawn)
    assert "src='http" not in page and 'src="http' not in page  # self-contained
    assert "b-failed" in page  # the failed cell is visibly marked
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert len(summary) == len(cells)
    assert summary.loc[summary["status"] == "failed", "valid"].tolist() == [False]


def test_report_is_idempotent(tmp_path) -> None:  # type: ignore[no-untyped-def]
    make_run(tmp_path)
    build_report(tmp_path)
    first = (tmp_path / "summary.csv").read_bytes()
    build_report(tmp_path)
    assert (tmp_path / "summary.csv").read_bytes() == first


def test_schema_mismatch_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    make_run(tmp_path)
    meta = json.loads((tmp_path / "run.json").read_text())
    meta["schema_version"] = schema.SCHEMA_VERSION + 1
    (tmp_path / "run.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="schema_version"):
        load_run(tmp_path)


def test_not_a_results_folder(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UserError, match="not a results folder"):
        load_run(tmp_path)


def test_compare_identical_runs_is_same(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.analysis.test_compare import SPEED, write_repeats

    for name in ("a", "b"):
        write_repeats(tmp_path / name, [100, 104, 97], [50, 52, 49], SPEED)
    result = compare.compare_runs(tmp_path / "a", tmp_path / "b")
    assert set(result.rows["rps_verdict"]) == {"same"}
    assert result.regressions(5) == []


def test_compare_detects_a_clear_shift(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.analysis.test_compare import SPEED, write_repeats

    write_repeats(tmp_path / "base", [200, 204, 197], [50, 51, 49], SPEED)
    write_repeats(tmp_path / "new", [100, 103, 98], [100, 102, 99], SPEED)
    result = compare.compare_runs(tmp_path / "base", tmp_path / "new")
    row = result.rows.iloc[0]
    assert row["rps_verdict"].startswith("slower")
    assert row["rps_change"] == pytest.approx(-0.5, abs=0.05)
    assert result.regressions(20) == ["coroutine-asyncio-sleep-ms50-u10"]
    assert result.regressions(60) == []
    assert "slower" in compare.format_comparison(result)


def test_compare_with_one_repeat_never_claims_a_change(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for name, rate in (("base", 200.0), ("new", 100.0)):
        noisy_run(
            tmp_path / name, rate=rate, latency_ms=50, seconds=10, jitter=5, spread_ms=3.0, seed=1
        )
    result = compare.compare_runs(tmp_path / "base", tmp_path / "new")
    assert set(result.rows["rps_verdict"]) == {"not enough repeats to judge"}
    assert result.regressions(5) == []


def test_compare_refuses_other_machine_unless_forced(tmp_path) -> None:  # type: ignore[no-untyped-def]
    make_run(tmp_path / "a")
    make_run(tmp_path / "b")
    meta = json.loads((tmp_path / "b" / "run.json").read_text())
    meta["environment"]["cpu"]["model"] = "Other CPU"
    (tmp_path / "b" / "run.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match=r"cpu model Test CPU vs Other CPU"):
        compare.compare_runs(tmp_path / "a", tmp_path / "b")
    assert len(compare.compare_runs(tmp_path / "a", tmp_path / "b", force=True).rows) > 0


def test_report_of_a_run_where_every_cell_failed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cells = [cell("sync"), cell("coroutine")]
    write_run(tmp_path, cells)
    for c in cells:
        write_cell(
            tmp_path, c, requests=None, window=None, status="failed", reason="server did not start"
        )
    result = build_report(tmp_path)
    assert result.charts == []
    page = result.report_path.read_text()
    assert "No valid cell, so no ranking." in page
    assert page.count("server did not start") == 2
    assert list(pd.read_csv(tmp_path / "summary.csv")["status"]) == ["failed", "failed"]


SCRIPT = "<script>alert(1)</script>"


def test_report_escapes_every_value(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ok, failed = cell("coroutine"), cell("sync")
    write_run(tmp_path, [ok, failed], packages={"tornado": "6.6.1", "evil": SCRIPT})
    meta = json.loads((tmp_path / "run.json").read_text())
    meta["suite"]["description"] = SCRIPT
    meta["suite"]["name"] = "x' onmouseover='alert(1)"
    (tmp_path / "run.json").write_text(json.dumps(meta))
    write_cell(tmp_path, ok, requests=steady_requests(100, 50, T0, T0 + 4))
    write_cell(tmp_path, failed, requests=None, window=None, status="failed", reason=SCRIPT)
    page = build_report(tmp_path).report_path.read_text()
    # The page's own scripts only, none of the values' (the JSON of the charts has \u003c).
    assert SCRIPT not in page and "alert(1)</script" not in page.lower()
    assert page.lower().count("<script") == 3
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert page.count(escaped) == 3  # the description, the failed cell's notes, a package
    assert "onmouseover='" not in page and "x&#x27; onmouseover=&#x27;alert(1)" in page
    assert "<span class='badge b-failed'>failed</span>" in page
    assert '<tr class="failed" ' in page


def test_report_draws_strategies_it_has_no_facts_for(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A user's own app or a running target: charts give it a colour, never a KeyError."""
    cells = [cell(v, users=u) for v in ("coroutine", "myapp", "target") for u in (1, 10)]
    write_run(tmp_path, cells)
    for c in cells:
        write_cell(tmp_path, c, requests=steady_requests(20.0 * c.users, 50, T0, T0 + 4))
    result = build_report(tmp_path)
    assert "warning" not in capsys.readouterr().err
    assert {c.name for c in result.charts} == CHARTS - {"fanout"}
