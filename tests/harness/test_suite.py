"""Suite files: every kind of mistake is refused before anything starts."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from catalog.paths import SUITE_DIR
from harness.suite.parse import load_suite, parse_suite, with_overrides
from record.errors import UserError
from tests.conftest import run_main

GOOD = {
    "name": "t",
    "duration_s": 2,
    "warmup_s": 1,
    "variants": ["sync"],
    "users": [2],
    "scenarios": [{"name": "sleep", "params": {"ms": 10}}],
}


def with_(**changes: object) -> dict:
    data = {**GOOD, **changes}
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (with_(durration_s=3), "durration_s: unknown key"),
        (with_(variants=["sync", "gevent"]), "variants: unknown name 'gevent'"),
        (with_(variants=[]), "variants: must be a non-empty list"),
        (with_(loops=["trio"]), "loops: unknown name 'trio'"),
        (with_(duration_s=0), "duration_s: 0 is out of range; allowed 1..3600"),
        (with_(duration_s="5"), "duration_s: must be a number"),
        (with_(repeats=2.5), "repeats: must be an integer"),
        (with_(users=[0]), "users: 0 is out of range"),
        (with_(users=[5, 5]), "users: lists a load level twice"),
        (with_(max_error_rate=1.5), "max_error_rate: 1.5 is out of range"),
        (with_(server={"threads": 0}), "server.threads: 0 is out of range"),
        (with_(server={"thread": 4}), "server.thread: unknown key"),
        (with_(scenarios=[]), "scenarios: at least one"),
        (with_(scenarios=[{"name": "sleeep"}]), "scenarios[0].name: unknown scenario 'sleeep'"),
        (
            with_(scenarios=[{"name": "sleep", "params": {"ms": 20000}}]),
            "scenarios[0].params.ms: 20000 is out of range; allowed 0..10000",
        ),
        (
            with_(scenarios=[{"name": "sleep", "params": {"n": 2}}]),
            "scenarios[0].params.n: unknown parameter for sleep; allowed: ms",
        ),
        (
            with_(scenarios=[{"name": "sleep", "params": {"ms": "fast"}}]),
            "scenarios[0].params.ms: must be an integer",
        ),
        (
            with_(scenarios=[{"name": "fanout", "params": {"n": 64, "ms": 10000}}]),
            "n*ms must be at most",
        ),
        (with_(scenarios=[{"name": "sleep", "user": [1]}]), "scenarios[0].user: unknown key"),
        (with_(scenarios=[{"name": "sleep"}, {"name": "sleep"}]), "duplicates scenario sleep-ms50"),
        (with_(variants=None, target="http://10.1.2.3:8080"), "not a loopback address"),
        (with_(variants=None, target="ftp://127.0.0.1:1"), "must look like http://"),
        (with_(target="http://127.0.0.1:8080"), "either target or variants"),
        (with_(placement="pinned"), "placement: must be one of"),
        (with_(min_repeats=4, max_repeats=3), "min_repeats: 4 is above max_repeats (3)"),
        (with_(target_ci_pct=0), "target_ci_pct: 0 is out of range; allowed above 0 up to 100"),
        (with_(target_ci_pct=150), "target_ci_pct: 150 is out of range; allowed 0..100"),
        (with_(repeats=3, min_repeats=2), "min_repeats: give either repeats, or min_repeats"),
        (with_(min_repeats=1, max_repeats=1), "max_repeats: must be at least 2"),
        (with_(rates=[0]), "rates: 0 is out of range; allowed above 0..100000"),
        (with_(rates=[-5]), "rates: -5 is out of range; allowed above 0..100000"),
        (with_(rates=["fast"]), "rates: must be a number in 0..100000"),
        (with_(rates=[200000]), "rates: 200000 is out of range"),
        (with_(rates=[50, 50]), "rates: lists a load level twice"),
        (with_(rates=50), "rates: must be a list of numbers"),
        (with_(users=[], rates=[]), "users: must be a non-empty list of integers"),
        (
            with_(scenarios=[{"name": "sleep", "users": [], "rates": []}]),
            "scenarios[0]: has no load",
        ),
        (with_(max_in_flight=0), "max_in_flight: 0 is out of range; allowed 1..5000"),
        (with_(arrivals="bursty"), "arrivals: must be one of: constant, poisson"),
        (with_(slo_ms=0), "slo_ms: 0 is out of range"),
        (with_(server={"reuse_port": True}), "server.reuse_port: applies to forking strategies"),
        (with_(server={"reuse_port": "yes"}), "server.reuse_port: must be true, false or"),
        (
            with_(scenarios=[{"name": "sleep"}, {"name": "sleep", "variants": ["sync"]}]),
            "scenarios[1]: duplicates scenario sleep-ms50",
        ),
        (
            with_(scenarios=[{"name": "sleep", "loops": ["trio"]}]),
            "scenarios[0].loops: unknown name 'trio'",
        ),
        (
            with_(
                variants=None,
                target="http://127.0.0.1:1",
                scenarios=[{"name": "hello", "variants": ["sync"]}],
            ),
            "scenarios[0].variants: a target suite loads one running server",
        ),
    ],
)
def test_mistakes_are_refused_with_key_and_allowed(data: dict, message: str) -> None:
    with pytest.raises(UserError) as err:
        parse_suite(data, "suites/t.toml")
    text = str(err.value)
    assert text.startswith("suites/t.toml: ")
    assert message in text
    assert "\n" not in text


def test_remote_target_allowed_when_asked() -> None:
    suite = parse_suite(with_(variants=None, target="http://10.1.2.3:8080"), "t", allow_remote=True)
    assert suite.target == "http://10.1.2.3:8080" and suite.variants == ("target",)


def test_defaults_and_cells() -> None:
    suite = parse_suite(
        with_(variants=["sync", "coroutine"], loops=["asyncio", "uvloop"], repeats=2), "t"
    )
    cells = suite.cells()
    assert len(cells) == 2 * 2 * 1 * 1 * 2
    assert len({c.cell_id for c in cells}) == len(cells)
    assert cells[0].cell_id == "sync-asyncio-sleep-ms10-u2-r1"


@pytest.mark.parametrize("path", sorted(SUITE_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_suites_are_valid(path: Path) -> None:
    assert load_suite(str(path)).cells()


def test_full_suite_covers_every_variant_scenario_and_loop() -> None:
    from catalog.strategies import LOOPS, VARIANTS
    from catalog.workloads import WORKLOADS

    full = load_suite("full")
    assert set(full.variants) == set(VARIANTS)
    assert {s.name for s in full.scenarios} == set(WORKLOADS)
    assert set(full.loops) == set(LOOPS)
    assert full.repeats == 3


def test_every_scenario_has_a_locustfile() -> None:
    from catalog.workloads import WORKLOADS

    for spec in WORKLOADS.values():
        assert spec.locustfile.is_file(), spec.name


BAD_TOML = [
    ("unknown = 1\n", "unknown: unknown key"),
    ('variants = ["nope"]\n[[scenarios]]\nname = "sleep"\n', "unknown name 'nope'"),
    ("this is not toml", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "message"), BAD_TOML)
def test_cli_bad_suite_exits_1_with_one_line_and_starts_nothing(
    tmp_path: Path, text: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "bad.toml"
    suite.write_text(text)
    out = tmp_path / "results"
    result = run_main(capsys, "run", str(suite), "--out", str(out))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "no-such-suite"], "no such suite file"),
        (["run", "smoke", "--duration", "-3"], "--duration"),
        (["run", "smoke", "--workers", "zero"], "--workers"),
        (["report", "/nonexistent/run"], "no such directory"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_cli_usage_errors_are_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_main(capsys, *argv)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_help_explains_commands(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_main(capsys, "--help")
    assert result.returncode == 0
    for word in ("run", "report", "compare", "list", "serve", "exit status"):
        assert word in result.stdout


def test_every_commands_help_reads_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    """argparse fills in a description's %-signs only where it names %(prog)s: a "%%" written
    for it would be printed as it stands."""
    from commands.main import build_parser

    parser = build_parser()
    commands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    names = sorted(commands[0].choices)
    assert "compare" in names and "calibrate" in names
    for name in ["", *names]:
        result = run_main(capsys, *([name] if name else []), "--help")
        assert result.returncode == 0, name
        assert "%%" not in result.stdout and "%(" not in result.stdout, (name, result.stdout)


def test_list_shows_suites_with_cell_counts(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_main(capsys, "list")
    assert result.returncode == 0
    assert "quick" in result.stdout and f"{len(load_suite('quick').cells())} cells" in result.stdout
    assert "gencoroutine" in result.stdout and "fanout" in result.stdout


def test_no_locustfile_shadows_a_standard_module() -> None:
    from catalog.workloads import WORKLOADS

    for spec in WORKLOADS.values():
        assert spec.locustfile.stem not in sys.stdlib_module_names, spec.locustfile


def test_adaptive_repeats_plan_min_repeats_interleaved() -> None:
    suite = parse_suite(
        with_(variants=["sync", "coroutine"], min_repeats=2, max_repeats=5, target_ci_pct=5), "t"
    )
    assert suite.adaptive and suite.repeats == 2 and suite.max_repeats == 5
    assert [c.cell_id for c in suite.cells()] == [
        "sync-asyncio-sleep-ms10-u2-r1",
        "coroutine-asyncio-sleep-ms10-u2-r1",
        "sync-asyncio-sleep-ms10-u2-r2",
        "coroutine-asyncio-sleep-ms10-u2-r2",
    ]
    fixed = parse_suite(with_(repeats=2), "t")
    assert not fixed.adaptive and fixed.max_repeats is None


def test_a_scenario_may_add_a_loop_for_some_variants() -> None:
    suite = parse_suite(
        with_(
            variants=["sync", "coroutine"],
            scenarios=[
                {"name": "sleep"},
                {"name": "sleep", "variants": ["coroutine"], "loops": ["uvloop"]},
            ],
        ),
        "t",
    )
    assert [c.cell_id for c in suite.cells()] == [
        "sync-asyncio-sleep-ms50-u2-r1",
        "coroutine-asyncio-sleep-ms50-u2-r1",
        "coroutine-uvloop-sleep-ms50-u2-r1",
    ]


def test_rates_make_open_loop_cells_beside_users() -> None:
    suite = parse_suite(with_(users=[4], rates=[50, 100.5], max_in_flight=30), "t")
    cells = suite.cells()
    assert [c.cell_id for c in cells] == [
        "sync-asyncio-sleep-ms10-u4-r1",
        "sync-asyncio-sleep-ms10-r50-r1",
        "sync-asyncio-sleep-ms10-r100.5-r1",
    ]
    assert cells[1].rate == 50 and cells[1].users == 30 and cells[0].rate is None


def test_a_scenario_giving_only_rates_is_open_loop_unless_the_suite_sets_users() -> None:
    only_rates = [{"name": "sleep", "params": {"ms": 10}, "rates": [10]}]
    suite = parse_suite(with_(users=None, scenarios=only_rates), "t")
    assert [c.cell_id for c in suite.cells()] == ["sync-asyncio-sleep-ms10-r10-r1"]
    # Users the suite sets itself are inherited beside the scenario's rates, as before.
    suite = parse_suite(with_(users=[4], scenarios=only_rates), "t")
    assert [c.cell_id for c in suite.cells()] == [
        "sync-asyncio-sleep-ms10-u4-r1",
        "sync-asyncio-sleep-ms10-r10-r1",
    ]
    # A scenario without rates keeps the closed-loop default of 10 users.
    suite = parse_suite(with_(users=None), "t")
    assert [c.cell_id for c in suite.cells()] == ["sync-asyncio-sleep-ms10-u10-r1"]


def test_cli_rates_turn_every_scenario_open_loop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = with_overrides(load_suite("smoke"), rates=(25.0, 50.0))
    assert {c.rate for c in suite.cells()} == {25.0, 50.0}
    with pytest.raises(UserError, match=r"rates: 0\.0 is out of range"):
        with_overrides(load_suite("smoke"), rates=(0.0,))
    result = run_main(capsys, "run", "smoke", "--rates", "ten", "--out", str(tmp_path))
    assert result.returncode == 1 and "is not a comma-separated list of numbers" in result.stderr
    assert result.stderr.count("\n") == 1 and not list(tmp_path.iterdir())
    # A long-lived scenario's load is its connections: an offered rate is refused, by name.
    result = run_main(capsys, "run", "connections", "--rates", "50", "--out", str(tmp_path))
    assert result.returncode == 1 and "--rates: ws-feed holds connections" in result.stderr
    assert result.stderr.count("\n") == 1 and not list(tmp_path.iterdir())


def test_reuse_port_is_part_of_the_cell_id_for_forking_strategies_only() -> None:
    suite = parse_suite(
        with_(variants=["sync", "multiprocess"], server={"reuse_port": [False, True]}), "t"
    )
    assert [c.cell_id for c in suite.cells()] == [
        "sync-asyncio-sleep-ms10-u2-r1",
        "multiprocess-asyncio-sleep-ms10-u2-r1",
        "multiprocess+reuseport-asyncio-sleep-ms10-u2-r1",
    ]


# -- the user's own service ([[apps]]) and Locust file ([[scenarios]] file) --------------

USER_FILE = """
from locust import FastHttpUser, events, task

@events.init_command_line_parser.add_listener
def _options(parser):
    parser.add_argument("--limit", type=int, default=10)

class Shopper(FastHttpUser):
    @task
    def orders(self):
        self.client.get("/orders")
"""
APP = {"name": "mine", "command": ["{python}", "app.py", "--port", "{port}"], "health": "/up"}
FILE_SCENARIO = {"file": "load.py", "params": {"limit": 5}, "verify": ["/orders"]}


def own(tmp: Path, **changes: object) -> tuple[dict, str]:
    """A suite of one app and one user Locust file in tmp (data, source path)."""
    (tmp / "load.py").write_text(USER_FILE)
    data = {
        "name": "own",
        "users": [2],
        "apps": [APP],
        "scenarios": [FILE_SCENARIO],
        **changes,
    }
    return {k: v for k, v in data.items() if v is not None}, str(tmp / "own.toml")


def refused(data: dict, source: str) -> str:
    with pytest.raises(UserError) as err:
        parse_suite(data, source)
    text = str(err.value)
    assert text.startswith(f"{source}: ") and "\n" not in text
    return text


@pytest.mark.parametrize(
    ("app", "message"),
    [
        (
            {"command": "python app.py {port}"},
            "apps[0].command: must be a non-empty list of strings",
        ),
        ({"command": ["python", 5]}, "apps[0].command: must be a non-empty list of strings"),
        ({"command": ["{python}", "app.py"]}, "apps[0].command: has no {port} placeholder"),
        ({"command": ["no-such-program-x", "{port}"]}, "'no-such-program-x' is not on PATH"),
        ({"command": ["./run.sh", "{port}"]}, "'./run.sh' is not an executable file"),
        ({"name": "sync"}, "apps[0].name: 'sync' is taken; not one of: sync, coroutine"),
        ({"name": "my app"}, "apps[0].name: must be 1-40 letters, digits, '-' or '_'"),
        ({"comand": ["x"]}, "apps[0].comand: unknown key; allowed: command, cwd, env, health"),
        ({"processes_hint": 0}, "apps[0].processes_hint: 0 is out of range; allowed 1..64"),
        ({"health": "up"}, "apps[0].health: must be a path starting with '/'"),
        ({"health": ""}, 'apps[0].health: must be a path, "tcp", or left out beside ready_log'),
        ({"health_method": "POST"}, "apps[0].health_method: 'POST' is not one of: GET, HEAD"),
        ({"health_status": []}, "apps[0].health_status: must be a list of HTTP statuses"),
        ({"health_status": [200, 99]}, "apps[0].health_status: must be a list of HTTP statuses"),
        ({"health": "tcp", "health_status": [405]}, "applies to an HTTP health path only"),
        ({"ready_log": "listening ("}, "apps[0].ready_log: is not a valid regex: "),
        ({"ready_log": 5}, "apps[0].ready_log: must be a regex a line of the app's log matches"),
        ({"env": {"PORT": 8000}}, "apps[0].env: must be a table of strings"),
        ({"cwd": "nowhere"}, "apps[0].cwd: "),
    ],
)
def test_app_mistakes_are_refused(tmp_path: Path, app: dict, message: str) -> None:
    data, source = own(tmp_path, apps=[{**APP, **app}])
    assert message in refused(data, source)


def test_an_apps_readiness_is_what_its_table_says(tmp_path: Path) -> None:
    """The keys land in one Readiness (kept in run.json and read back), a ready_log alone
    waits on the log only, and a run.json from before readiness had keys reads as GET ->
    200 on its health path."""
    from harness.suite.apps import AppEntry, Readiness

    cases = [
        ({}, Readiness()),
        ({"health": "tcp"}, Readiness(health="tcp")),
        ({"health_status": 405}, Readiness(statuses=(405,))),
        ({"health": "/up", "health_method": "HEAD"}, Readiness(health="/up", method="HEAD")),
        ({"ready_log": "Listening"}, Readiness(health="", log="Listening")),
        ({"ready_log": "L", "health": "tcp"}, Readiness(health="tcp", log="L")),
    ]
    bare = {k: v for k, v in APP.items() if k != "health"}
    for keys, expected in cases:
        data, source = own(tmp_path, apps=[{**bare, **keys}])
        app = parse_suite(data, source).apps[0]
        assert app.ready == expected, keys
        assert AppEntry.from_dict(json.loads(json.dumps(asdict(app)))) == app
    old = {**asdict(app), "health": "/ping"}
    del old["ready"]
    assert AppEntry.from_dict(old).ready == Readiness(health="/ping")


def test_an_app_needs_its_port_in_command_or_env(tmp_path: Path) -> None:
    app = {**APP, "command": ["{python}", "app.py"], "env": {"PORT": "{port}"}}
    data, source = own(tmp_path, apps=[app])
    assert parse_suite(data, source).apps[0].environment(8123)["PORT"] == "8123"
    data, source = own(tmp_path, apps=[APP, APP])
    assert "apps[1].name: 'mine' is used by another app" in refused(data, source)
    data, source = own(tmp_path, target="http://127.0.0.1:9")
    assert "apps: give either target (a running server) or apps" in refused(data, source)


BAD_FILES = [
    ("class Shopper(FastHttpUser:\n", "load.py line 1: "),
    ("import locust\n", "defines no Locust User class"),
    ("class A(HttpUser):\n    abstract = True\n", "defines no Locust User class"),
    (USER_FILE + "class Steps(LoadTestShape):\n    pass\n", "defines a load shape (Steps)"),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES)
def test_a_bad_locustfile_is_refused_before_the_run(
    tmp_path: Path, text: str, message: str
) -> None:
    data, source = own(tmp_path)
    (tmp_path / "load.py").write_text(text)
    assert f"scenarios[0].file: {tmp_path / 'load.py'}" in refused(data, source)
    assert message in refused(data, source)


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ({"file": "missing.py"}, "scenarios[0].file: " + "{tmp}/missing.py does not exist"),
        (
            {"file": "load.txt"},
            "scenarios[0].file: must be the path of a Locust file ending in .py",
        ),
        ({"file": "sleep.py"}, "the name 'sleep' is taken by a built-in scenario"),
        ({"file": "json.py"}, "the name 'json' is taken"),
        ({"file": "load.py", "name": "hello"}, "scenarios[0].name: give either name"),
        ({"file": "load.py", "params": {"size": 3}}, "never declares --size"),
        ({"file": "load.py", "params": {"users": 3}}, "--users is an option of the harness"),
        ({"file": "load.py", "params": {"ms": 3}}, "--ms is an option of the harness"),
        ({"file": "load.py", "params": {"limit": "5"}}, "params.limit: must be an integer"),
        ({"file": "load.py", "verify": "/orders"}, "scenarios[0].verify: must be a non-empty list"),
        ({"file": "load.py", "verify": ["orders"]}, "must be a path starting with '/'"),
        ({"name": "hello", "verify": ["/x"]}, "verify: applies to a Locust file"),
        ({"name": "fanout"}, "fanout needs the built-in backend, which an app is not connected"),
        ({"file": "load.py", "variants": ["yours"]}, "unknown name 'yours'; allowed: mine"),
    ],
)
def test_user_scenario_mistakes_are_refused(tmp_path: Path, scenario: dict, message: str) -> None:
    for name in ("sleep.py", "json.py"):
        (tmp_path / name).write_text(USER_FILE)
    (tmp_path / "load.txt").write_text(USER_FILE)
    data, source = own(tmp_path, scenarios=[scenario])
    assert message.replace("{tmp}", str(tmp_path.resolve())) in refused(data, source)


def test_an_app_suite_plans_cells_named_after_the_apps(tmp_path: Path) -> None:
    second = {**APP, "name": "mine-async", "processes_hint": 4}
    data, source = own(tmp_path, apps=[APP, second], users=[2, 8])
    suite = parse_suite(data, source)
    assert suite.variants == () and suite.scenarios[0].file == str(tmp_path / "load.py")
    assert suite.apps[0].cwd == str(tmp_path)  # relative paths are the suite file's folder's
    assert [c.cell_id for c in suite.cells()] == [
        "mine-na-load-limit5-u2-r1",
        "mine-na-load-limit5-u8-r1",
        "mine-async-na-load-limit5-u2-r1",
        "mine-async-na-load-limit5-u8-r1",
    ]
    assert {(c.processes, c.threads) for c in suite.cells()} == {(1, 1), (4, 1)}
    from harness.suite.parse import Suite

    assert Suite.from_dict(suite.to_dict()) == suite  # a resumed run reads the same suite


def test_beside_variants_each_scenario_runs_where_its_endpoints_are(tmp_path: Path) -> None:
    data, source = own(
        tmp_path,
        variants=["coroutine"],
        loops=["asyncio", "uvloop"],
        scenarios=[
            {"name": "hello"},
            FILE_SCENARIO,
            {"name": "sleep", "variants": ["coroutine", "mine"]},
        ],
    )
    assert [c.cell_id for c in parse_suite(data, source).cells()] == [
        "coroutine-asyncio-hello-u2-r1",
        "coroutine-uvloop-hello-u2-r1",
        "mine-na-load-limit5-u2-r1",
        "coroutine-asyncio-sleep-ms50-u2-r1",
        "coroutine-uvloop-sleep-ms50-u2-r1",
        "mine-na-sleep-ms50-u2-r1",
    ]


def test_a_user_locustfile_may_load_a_target(tmp_path: Path) -> None:
    data, source = own(tmp_path, apps=None, target="http://127.0.0.1:8000")
    (cell,) = parse_suite(data, source).cells()
    assert cell.cell_id == "target-na-load-limit5-u2-r1"


def test_users_never_stand_in_silently_for_a_long_lived_scenarios_connections() -> None:
    """users = [1000] beside ws-feed would have run its default 200 connections: refused by
    name; with params.connections given, the suite's users go to its request scenarios."""
    base = {"name": "t", "variants": ["coroutine"], "users": [1000]}
    feed = {"name": "ws-feed"}
    text = refused({**base, "scenarios": [feed]}, "t.toml")
    assert "scenarios[0].params.connections: ws-feed holds one connection per user" in text
    assert "(200 by default), not the suite's users" in text
    given = {**feed, "params": {"connections": 300}}
    suite = parse_suite({**base, "scenarios": [given, {"name": "hello"}]}, "t.toml")
    assert sorted(c.users for c in suite.cells()) == [300, 1000]
    bare = {"name": "t", "variants": ["coroutine"], "scenarios": [{**given, "users": [5]}]}
    table = refused(bare, "t.toml")
    assert "scenarios[0].users: a long-lived scenario's load is params.connections" in table
