"""[server] http_client and max_backlog: parsed, refused in one line when wrong, named in the
cell id only when not the default, and passed to the server."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from catalog.server_config import ServerConfig
from harness.cell import CellOptions, run_cell
from harness.placements import choose
from harness.processes import procs
from harness.suite.parse import Suite, parse_suite
from record.errors import UserError
from record.records import CellRecord, CellSpec

UPSTREAM = {
    "name": "t",
    "duration_s": 1,
    "warmup_s": 0,
    "variants": ["sync", "coroutine"],
    "users": [50],
    "scenarios": [{"name": "upstream", "params": {"ms": 20}}],
}


def suite_with(server: dict | None = None, **changes: object) -> Suite:
    data = {**UPSTREAM, **changes}
    if server is not None:
        data["server"] = server
    return parse_suite(data, "t.toml")


def refusal(server: dict, **changes: object) -> str:
    with pytest.raises(UserError) as info:
        suite_with(server, **changes)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_default_client_leaves_the_cell_ids_as_they_were() -> None:
    suite = suite_with()
    assert suite.http_client == ("simple",)
    assert [c.cell_id for c in suite.cells()] == [
        "sync-asyncio-upstream-ms20-u50-r1",
        "coroutine-asyncio-upstream-ms20-u50-r1",
    ]


def test_curl_is_in_the_cell_id_of_the_awaiting_strategies_only() -> None:
    suite = suite_with({"http_client": "curl"})
    assert [c.cell_id for c in suite.cells()] == [
        "sync-asyncio-upstream-ms20-u50-r1",
        "coroutine+curl-asyncio-upstream-ms20-u50-r1",
    ]
    assert [c.http_client for c in suite.cells()] == ["simple", "curl"]


def test_both_clients_compared_on_upstream_scenarios_only() -> None:
    suite = suite_with(
        {"http_client": ["simple", "curl"]},
        scenarios=[{"name": "fanout", "params": {"n": 4, "ms": 20}}, {"name": "hello"}],
    )
    assert [c.cell_id for c in suite.cells()] == [
        "sync-asyncio-fanout-ms20-n4-u50-r1",
        "coroutine-asyncio-fanout-ms20-n4-u50-r1",
        "coroutine+curl-asyncio-fanout-ms20-n4-u50-r1",
        "sync-asyncio-hello-u50-r1",
        "coroutine-asyncio-hello-u50-r1",
    ]
    again = Suite.from_dict(suite.to_dict())
    assert again == suite and again.http_client == ("simple", "curl")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("urllib3", "server.http_client: must be one of: simple, curl, or a list of them"),
        (["curl", "curl"], "server.http_client: must be one of: simple, curl"),
        ([], "server.http_client: must be one of: simple, curl"),
        (True, "server.http_client: must be one of: simple, curl"),
    ],
)
def test_a_bad_client_is_refused_naming_the_allowed_ones(value: object, message: str) -> None:
    got = refusal({"http_client": value})
    assert got.startswith("t.toml: ") and message in got


def test_curl_without_an_awaiting_strategy_calling_the_backend_is_refused() -> None:
    assert "applies to the upstream calls of the awaiting strategies" in refusal(
        {"http_client": "curl"}, variants=["sync", "threadpool"]
    )
    assert "the suite runs none of them" in refusal(
        {"http_client": "curl"}, scenarios=[{"name": "sleep"}]
    )


def test_curl_without_pycurl_is_refused_in_one_line_and_nothing_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pycurl", None)  # `import pycurl` raises ImportError
    message = refusal({"http_client": ["simple", "curl"]})
    assert "server.http_client: curl needs pycurl" in message
    assert "pip install pycurl" in message and "requirements.txt" in message
    assert suite_with({"http_client": "simple"}).cells()  # a suite without curl is unaffected
    assert suite_with().cells()


def test_old_cell_records_load_with_the_default_client() -> None:
    cell = suite_with({"http_client": "curl"}).cells()[1]
    assert CellSpec.from_dict(cell.to_dict()) == cell
    old = cell.to_dict()
    for key in ("http_client", "cell_id"):
        old.pop(key)
    loaded = CellSpec.from_dict(old)
    assert loaded.http_client == "simple"
    assert loaded.cell_id == "coroutine-asyncio-upstream-ms20-u50-r1"


def test_max_backlog_parsed_bounded_and_kept() -> None:
    assert suite_with().max_backlog == 10_000
    suite = suite_with({"max_backlog": 500})
    assert suite.max_backlog == 500 and Suite.from_dict(suite.to_dict()).max_backlog == 500
    old = suite.to_dict()
    del old["max_backlog"], old["http_client"]  # a run.json written before these keys
    assert Suite.from_dict(old).max_backlog == 10_000
    assert "server.max_backlog: 0 is out of range; allowed 1..1000000" in refusal(
        {"max_backlog": 0}
    )
    assert "server.max_backlog: 2000000 is out of range" in refusal({"max_backlog": 2_000_000})
    assert "server.max_backlog: must be an integer in 1..1000000" in refusal(
        {"max_backlog": "many"}
    )
    assert "server.max_backlogs: unknown key" in refusal({"max_backlogs": 5})


def test_server_argv_carries_both_options() -> None:
    argv = procs.server_argv(
        ServerConfig(variant="coroutine", port=8000, http_client="curl", max_backlog=7)
    )
    assert argv[argv.index("--http-client") + 1] == "curl"
    assert argv[argv.index("--max-backlog") + 1] == "7"
    plain = procs.server_argv(ServerConfig(variant="coroutine", port=8000))
    assert "--http-client" not in plain and "--max-backlog" not in plain


def test_a_curl_cell_runs_its_server_with_curl(tmp_path: Path) -> None:
    pytest.importorskip("pycurl")
    suite = suite_with({"http_client": "curl"}, variants=["coroutine"], users=[4])
    (cell,) = suite.cells()
    assert cell.cell_id == "coroutine+curl-asyncio-upstream-ms20-u4-r1"
    record = run_cell(cell, tmp_path, CellOptions(suite, choose("split")))
    assert record.status == "ok", record.reason
    assert "http_client=curl" in (tmp_path / "server.log").read_text()
    assert CellRecord.read(tmp_path).cell.http_client == "curl"
    assert not (tmp_path / "backlog.csv").exists()  # only enqueue cells are polled
