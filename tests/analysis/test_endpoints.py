"""The per-endpoint table (analysis/endpoints.py, endpoints.csv) and a scenario's headline
records (CellSettings.headline): a cell of unlike records is told apart, and its summary row
counts the records its scenario chose."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import aggregate, cellpass, hlog
from analysis.endpoints import endpoint_stats, endpoint_table, unmatched_headlines
from analysis.load import load_run
from analysis.report.build import build_report
from tests.analysis.fixtures import T0, cell, write_cell, write_run


def chat_requests() -> pd.DataFrame:
    """Inside a 2 s window: 200 POST /messages of 2 ms (10 failed), 50 GET /updates of
    500 ms, and 100 WS "deliver" records of 5..104 ms under the same name as a GET."""
    posts = pd.DataFrame(
        {
            "start": T0 + 1.5 + np.arange(200) * 0.005,
            "latency_ms": 2.0,
            "endpoint": "/messages",
            "request_type": "POST",
            "bytes": 2,
            "ok": [i >= 10 for i in range(200)],
        }
    )
    waits = pd.DataFrame(
        {
            "start": T0 + 1.0 + np.arange(50) * 0.02,
            "latency_ms": 500.0,
            "endpoint": "/updates",
            "request_type": "GET",
            "bytes": 100,
            "ok": True,
        }
    )
    deliveries = pd.DataFrame(
        {
            "start": T0 + 1.5 + np.arange(100) * 0.01,
            "latency_ms": 5.0 + np.arange(100),
            "endpoint": "/updates",
            "request_type": "WS",
            "bytes": 64,
            "ok": True,
        }
    )
    frame = pd.concat([posts, waits, deliveries], ignore_index=True)
    return frame.assign(status=200, worker=0)


def test_endpoints_are_request_type_and_name_with_exact_figures() -> None:
    rows = endpoint_stats(chat_requests(), duration_s=2.0).set_index(["request_type", "endpoint"])
    assert list(rows.index) == [("POST", "/messages"), ("WS", "/updates"), ("GET", "/updates")]
    post, deliver, wait = (rows.loc[k] for k in rows.index)
    assert (post["requests"], post["failures"], post["rps"]) == (200, 10, 100.0)
    assert post["error_pct"] == 5.0 and post["bytes_received"] == 400
    assert (wait["requests"], wait["p50_ms"], wait["p99_ms"]) == (50, 500.0, 500.0)
    # 5..104 ms, nearest rank: the 50th and the 99th value.
    assert (deliver["p50_ms"], deliver["p99_ms"], deliver["max_ms"]) == (54.0, 103.0, 104.0)
    assert math.isnan(post["bytes_sent"])  # these records do not carry what was sent


def test_records_without_a_request_type_are_one_endpoint_per_name() -> None:
    frame = chat_requests().assign(request_type=None)
    rows = endpoint_stats(frame, duration_s=2.0)
    assert sorted(zip(rows["request_type"], rows["endpoint"], rows["requests"], strict=True)) == [
        ("", "/messages", 200),
        ("", "/updates", 150),
    ]


def write_chat_run(run_dir: Path, headline: list[str]) -> str:
    """One cell of chat_requests, its scenario naming `headline`; its id."""
    chat = cell(variant="mine", scenario="chat", params={})
    write_run(run_dir, [chat])
    write_cell(run_dir, chat, requests=chat_requests())
    path = run_dir / "cells" / chat.cell_id / "cell.json"
    info = json.loads(path.read_text())
    info["suite"]["headline"] = headline
    path.write_text(json.dumps(info))
    return chat.cell_id


def test_a_headline_is_the_cells_figures_and_the_rest_stay_in_the_table(tmp_path: Path) -> None:
    cell_id = write_chat_run(tmp_path / "run", ["POST /messages"])
    run = load_run(tmp_path / "run")
    summary = aggregate.build_summary(run.cells, run.cell_requests, run.run_id)
    row = summary.set_index("cell_id").loc[cell_id]
    assert (row["requests"], row["failures"], row["rps"], row["p99_ms"]) == (200, 10, 100.0, 2.0)
    table = endpoint_table(run)
    assert list(table.loc[table["headline"], "endpoint"]) == ["/messages"]
    assert table["requests"].sum() == 350  # every record is in the table
    assert unmatched_headlines(run, table) == []


def test_a_headline_by_name_takes_every_type_of_that_name(tmp_path: Path) -> None:
    cell_id = write_chat_run(tmp_path / "run", ["/updates"])
    run = load_run(tmp_path / "run")
    assert len(run.cell_requests(cell_id, ["latency_ms"])) == 150
    assert list(run.cell_requests(cell_id, ["latency_ms"]).columns) == ["latency_ms"]
    assert len(run.every_request(cell_id, ["latency_ms"])) == 350


def test_a_headline_that_matches_nothing_is_said_with_what_was_recorded(tmp_path: Path) -> None:
    cell_id = write_chat_run(tmp_path / "run", ["POST /message"])
    run = load_run(tmp_path / "run")
    (line,) = unmatched_headlines(run, endpoint_table(run))
    assert line.startswith(f"{cell_id}: headline ['POST /message'] matched none of its endpoints")
    assert "POST /messages" in line and "WS /updates" in line


def test_the_report_writes_endpoints_csv_and_shows_only_cells_of_several(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    chat, plain = cell(variant="mine", scenario="chat", params={}), cell(variant="sync")
    write_run(run_dir, [chat, plain])
    write_cell(run_dir, chat, requests=chat_requests())
    single = chat_requests().iloc[:200].assign(endpoint="/sleep", request_type="GET")
    write_cell(run_dir, plain, requests=single)
    result = build_report(run_dir)
    written = pd.read_csv(run_dir / "endpoints.csv")
    assert sorted(written.groupby("cell_id").size()) == [1, 3]
    page = result.report_path.read_text()
    section = page[page.index("id='endpoints'") :]
    section = section[: section.index("</section>")]
    assert chat.cell_id in section and plain.cell_id not in section
    assert "/messages" in section and "500.0" in section


@pytest.mark.parametrize("headline", [[], ["POST /messages"]])
def test_the_one_pass_gives_what_reading_each_file_again_gives(
    tmp_path: Path, headline: list[str]
) -> None:
    """The report reads each cell once (analysis/cellpass.py), in worker processes: its
    statistics, endpoints and hlog must be those the separate readers give."""
    cell_id = write_chat_run(tmp_path / "run", headline)
    run = load_run(tmp_path / "run")
    passes = cellpass.pass_cells(run)
    hlog_path = tmp_path / "run" / "cells" / cell_id / hlog.FILE_NAME
    one_pass = hlog_path.read_bytes()
    separate = aggregate.build_summary(run.cells, run.cell_requests, run.run_id)
    pd.testing.assert_frame_equal(
        aggregate.summary_of(run.cells, passes.stats(), run.run_id), separate
    )
    pd.testing.assert_frame_equal(passes.endpoint_table(), endpoint_table(run))
    hlog.write_run_hlogs(run)
    assert hlog_path.read_bytes() == one_pass
