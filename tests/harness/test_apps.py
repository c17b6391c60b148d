"""The user's own service ([[apps]]) loaded by the user's own Locust file ([[scenarios]] file):
real apps written here, outside the project tree, run by the real harness."""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path

import pandas as pd
import psutil
import pytest

from analysis.model import cpu_capacity_rps
from harness.cell import CellOptions, run_cell
from harness.placements import choose
from harness.processes import procs
from harness.suite.parse import load_suite
from tests.conftest import run_bench

# The example service: one endpoint that waits `ms` like a database call, blocking the IOLoop
# (--mode blocking) or awaiting (--mode async). It forks a helper that stays in its process
# group and starts one that leaves it (setsid, as a daemonizing app would), and writes a line
# per process to --pids (the test then proves none runs in its folder afterwards). The port comes from
# --port or from $PORT (the suite passes {port} both ways).
APP = """
import argparse, asyncio, os, signal, subprocess, sys, time
import tornado.web

class Work(tornado.web.RequestHandler):
    def initialize(self, mode):
        self.mode = mode

    async def get(self):
        ms = int(self.get_argument("ms"))
        if self.mode == "async":
            await asyncio.sleep(ms / 1000)
        else:
            time.sleep(ms / 1000)
        self.write("done")

class Health(tornado.web.RequestHandler):
    def get(self):
        self.write("up")

def helpers(pidfile):
    forked = os.fork()
    if forked == 0:
        time.sleep(600)
        os._exit(0)
    sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]
    escaped = subprocess.Popen(sleeper, start_new_session=True)
    with open(pidfile, "a") as fh:
        fh.write("".join(f"{p}\\n" for p in (os.getpid(), forked, escaped.pid)))

async def main(port, mode):
    app = tornado.web.Application([("/health", Health), ("/work", Work, {"mode": mode})])
    app.listen(port, address="127.0.0.1")
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "0")))
    parser.add_argument("--mode", required=True)
    parser.add_argument("--pids", required=True)
    args = parser.parse_args()
    helpers(args.pids)
    asyncio.run(main(args.port, args.mode))
"""

LOCUSTFILE = """
from locust import HttpUser, constant, events, task

@events.init_command_line_parser.add_listener
def _options(parser):
    parser.add_argument("--wait", type=int, default=20)

class Visitor(HttpUser):
    wait_time = constant(0)

    @task
    def work(self):
        self.client.get(f"/work?ms={self.environment.parsed_options.wait}", name="/work")
"""

USERS = 8
# Long enough that the async mode's model rate (U/D = 160 req/s) costs little CPU: at 20 ms it
# was 400 req/s, which a busy two-core runner (three test workers beside it) could not drive,
# and the async cell's shortfall decided the ratio below.
WAIT_MS = 50
SUITE = f"""
name = "own"
duration_s = 3
warmup_s = 0.5
users = [{USERS}]

[[apps]]
name = "blocking"
command = ["{{python}}", "app.py", "--port", "{{port}}", "--mode", "blocking", "--pids", "pids"]
health = "/health"
cwd = "service"

[[apps]]
name = "async"
command = ["{{python}}", "app.py", "--mode", "async", "--pids", "pids"]
env = {{ PORT = "{{port}}" }}
health = "/health"
cwd = "service"

[[scenarios]]
file = "load/visits.py"
params = {{ wait = {WAIT_MS} }}
verify = ["/work?ms=1"]
"""


def write_project(tmp: Path, suite: str = SUITE) -> Path:
    (tmp / "service").mkdir()
    (tmp / "service" / "app.py").write_text(APP)
    (tmp / "load").mkdir()
    (tmp / "load" / "visits.py").write_text(LOCUSTFILE)
    path = tmp / "suite.toml"
    path.write_text(suite)
    return path


def running_in(folder: Path) -> set[int]:
    """The processes whose working folder is `folder` (the app and every helper it started
    run there), zombies aside."""
    found = set()
    for proc in psutil.process_iter(["cwd"]):
        with contextlib.suppress(psutil.Error):
            if proc.info["cwd"] == str(folder) and proc.status() != psutil.STATUS_ZOMBIE:
                found.add(proc.pid)
    return found


def test_two_modes_of_an_app_under_a_user_locustfile(tmp_path: Path) -> None:
    suite = write_project(tmp_path)
    out = tmp_path / "results"
    result = run_bench("run", str(suite), "--out", str(out))
    assert result.returncode == 0, result.stderr + result.stdout
    (run_dir,) = out.iterdir()
    summary = pd.read_csv(run_dir / "summary.csv").set_index("variant")
    assert list(summary["scenario"]) == [f"visits-wait{WAIT_MS}"] * 2
    assert (summary["status"] == "ok").all() and summary["expected_rps"].isna().all()
    for app in ("blocking", "async"):
        cell_dir = run_dir / "cells" / f"{app}-na-visits-wait{WAIT_MS}-u{USERS}-r1"
        info = json.loads((cell_dir / "cell.json").read_text())
        assert info["leftover_pids"] == [] and info["verification"] == ["ok"]
        assert info["command"][1:3] == ["app.py", "--port" if app == "blocking" else "--mode"]
        assert info["locustfile"] == str(tmp_path / "load" / "visits.py")
        requests = pd.read_parquet(cell_dir / "requests.parquet")
        assert len(requests) > 20 and set(requests["endpoint"]) == {"/work"}
        resources = pd.read_csv(cell_dir / "server_resources.csv")
        # The app's whole tree is sampled: the app and the helpers it started.
        assert resources.loc[resources["role"] == "server", "pid"].nunique() >= 3
    # Blocking serves one request at a time: 1/D is a hard ceiling, however idle the machine
    # (5 % for the window's edges). Async holds every user's wait (U/D): the model's ratio is U,
    # and half of it leaves room for a busy machine's noise.
    serial_rps = 1000 / WAIT_MS
    assert summary.loc["blocking", "rps"] <= serial_rps * 1.05, summary[["rps", "p99_ms"]]
    ratio = summary.loc["async", "rps"] / summary.loc["blocking", "rps"]
    assert ratio > USERS / 2, summary[["rps", "p99_ms"]]
    assert "CPU capacity" in result.stdout  # the terminal table shows it for app cells
    lines = (tmp_path / "service" / "pids").read_text().split()
    assert len(lines) == 6  # per cell: the app, its forked helper, its escaped helper
    assert running_in(tmp_path / "service") == set()


def test_an_app_that_crashes_at_start_fails_its_cell_with_its_log(tmp_path: Path) -> None:
    suite = write_project(
        tmp_path,
        SUITE.replace("duration_s = 3", "duration_s = 1").replace(
            '[[apps]]\nname = "blocking"',
            "[[apps]]\n"
            'name = "crash"\n'
            'command = ["{python}", "-c", "import sys; print(\'reading config\', flush=True); '
            "sys.exit('boom: no database for port {port}')\"]\n\n"
            '[[apps]]\nname = "blocking"',
        ),
    )
    out = tmp_path / "results"
    result = run_bench("run", str(suite), "--out", str(out), "--quiet")
    assert result.returncode == 2, result.stderr + result.stdout
    (run_dir,) = out.iterdir()
    cells = run_dir / "cells"
    crash = json.loads((cells / f"crash-na-visits-wait{WAIT_MS}-u{USERS}-r1/cell.json").read_text())
    assert crash["status"] == "failed"
    assert crash["reason"].startswith("app crash did not start: server exited with code 1")
    assert "reading config | boom: no database for port" in crash["reason"]
    assert not (cells / f"crash-na-visits-wait{WAIT_MS}-u{USERS}-r1/locust.log").exists()
    summary = pd.read_csv(run_dir / "summary.csv")
    assert list(summary["status"]) == ["failed", "ok", "ok"]  # the suite went on
    assert running_in(tmp_path / "service") == set()


def test_an_app_that_never_answers_health_fails_at_the_deadline_and_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(procs, "READY_TIMEOUT_S", 1.5)
    silent = (
        "[[apps]]\n"
        'name = "silent"\n'
        'command = ["{python}", "-c", "import time, sys; time.sleep(60)", "{port}"]\n'
    )
    text = SUITE.split("[[apps]]")[0] + silent + "\n[[scenarios]]" + SUITE.split("[[scenarios]]")[1]
    suite = load_suite(str(write_project(tmp_path, text)))
    (cell,) = suite.cells()
    record = run_cell(cell, tmp_path / "cell", CellOptions(suite, choose("split")))
    assert record.status == "failed"
    assert (
        "app silent did not start:" in record.reason
        and "did not answer GET with 200 within 2 s" in (record.reason)
    )
    assert record.leftover_pids == () and procs.live(set(record.pids.values())) == set()


# A receiver that takes only POST, as an upload endpoint does: any GET is 405, so a health
# path can never answer 200. It says when it listens, after a pause that a readiness check
# must wait out (--delay), on the port from its own option name.
RECEIVER = """
import argparse, asyncio, time
import tornado.web

class Receive(tornado.web.RequestHandler):
    def post(self):
        self.write(str(len(self.request.body)))

async def main(port, delay):
    time.sleep(delay)
    tornado.web.Application([("/", Receive)]).listen(port, address="127.0.0.1")
    print(f"receiver listening on {port}", flush=True)
    await asyncio.Event().wait()

parser = argparse.ArgumentParser()
parser.add_argument("--listen", type=int, required=True)
parser.add_argument("--delay", type=float, default=0)
args = parser.parse_args()
asyncio.run(main(args.listen, args.delay))
"""

SENDER = """
from locust import FastHttpUser, constant, task

class Sender(FastHttpUser):
    wait_time = constant(0.01)

    @task
    def send(self):
        self.client.post("/", data=b"x" * 1000, name="post /")
"""


def receiver_suite(tmp: Path, readiness: str, delay: float = 0.0) -> Path:
    (tmp / "app.py").write_text(RECEIVER)
    (tmp / "send.py").write_text(SENDER)
    path = tmp / "suite.toml"
    path.write_text(
        'name = "receiver"\nduration_s = 1\nwarmup_s = 0\nusers = [2]\n\n[[apps]]\n'
        'name = "receiver"\n'
        f'command = ["{{python}}", "app.py", "--listen", "{{port}}", "--delay", "{delay}"]\n'
        f'{readiness}\n\n[[scenarios]]\nfile = "send.py"\n'
    )
    return path


@pytest.mark.parametrize(
    "readiness",
    ['health = "tcp"', "health_status = [405]", 'ready_log = "listening on \\\\d+"'],
    ids=["tcp", "status-405", "log-line"],
)
def test_an_app_that_answers_get_with_405_starts_on_another_readiness(
    tmp_path: Path, readiness: str
) -> None:
    """health = "tcp", a status list and a log line each see the receiver ready after its
    pause (its first posts are answered, not refused), where the default GET / -> 200 never
    could."""
    suite = load_suite(str(receiver_suite(tmp_path, readiness, delay=1.0)))
    (cell,) = suite.cells()
    record = run_cell(cell, tmp_path / "cell", CellOptions(suite, choose("split")))
    assert record.status == "ok", record.reason
    requests = pd.read_parquet(tmp_path / "cell" / "requests.parquet")
    assert len(requests) > 5 and requests["ok"].all()
    assert record.leftover_pids == () and procs.live(set(record.pids.values())) == set()


def test_the_default_readiness_names_the_status_the_app_gave(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(procs, "READY_TIMEOUT_S", 1.5)
    suite = load_suite(str(receiver_suite(tmp_path, "")))
    (cell,) = suite.cells()
    record = run_cell(cell, tmp_path / "cell", CellOptions(suite, choose("split")))
    assert record.status == "failed"
    assert "did not answer GET with 200 within 2 s (status 405)" in record.reason
    assert procs.live(set(record.pids.values())) == set()


def test_an_app_that_raises_a_bare_exception_has_it_in_its_reason(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        "import sys\nprint('starting on', sys.argv[1], flush=True)\nraise Exception('boom')\n"
    )
    (tmp_path / "send.py").write_text(SENDER)
    path = tmp_path / "suite.toml"
    path.write_text(
        'name = "boom"\nduration_s = 1\nusers = [1]\n[[apps]]\nname = "boom"\n'
        'command = ["{python}", "app.py", "{port}"]\n[[scenarios]]\nfile = "send.py"\n'
    )
    suite = load_suite(str(path))
    (cell,) = suite.cells()
    record = run_cell(cell, tmp_path / "cell", CellOptions(suite, choose("split")))
    assert record.status == "failed"
    assert record.reason.startswith("app boom did not start: server exited with code 1")
    assert record.reason.endswith("Exception: boom"), record.reason


def test_a_locustfile_with_a_syntax_error_is_refused_in_one_line(tmp_path: Path) -> None:
    suite = write_project(tmp_path)
    (tmp_path / "load" / "visits.py").write_text("from locust import HttpUser\nclass V(HttpUser:\n")
    out = tmp_path / "results"
    result = run_bench("run", str(suite), "--out", str(out), timeout=60)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {suite}: scenarios[0].file: ")
    assert f"{tmp_path / 'load' / 'visits.py'} line 2: " in lines[0]
    assert not out.exists()


def test_cpu_capacity_is_the_utilization_law_for_apps_only() -> None:
    # 2 ms of CPU per request on at most min(processes_hint, cores) cores.
    assert cpu_capacity_rps(strategy="mine", processes=1, cores=4, service_s=0.002) == 500
    assert cpu_capacity_rps(strategy="mine", processes=4, cores=2, service_s=0.002) == 1000
    assert math.isnan(cpu_capacity_rps(strategy="coroutine", processes=1, cores=1, service_s=0.002))
    assert math.isnan(cpu_capacity_rps(strategy="mine", processes=1, cores=1, service_s=math.nan))


def test_resume_runs_stored_app_commands_only_against_the_users_suite(tmp_path: Path) -> None:
    """A results folder can come from anywhere: its run.json must not be able to make
    `--resume` run a command the user did not write in their own suite file."""
    from dataclasses import replace

    from record.records import RunRecord

    suite_file = tmp_path / "mine.toml"
    suite_file.write_text(
        '[[apps]]\nname = "mine"\ncommand = ["python", "-c", "print({port})"]\n'
        '[[scenarios]]\nname = "hello"\n'
    )
    suite = load_suite(str(suite_file))
    evil = replace(suite.apps[0], command=("sh", "-c", "touch PWNED {port}"))
    run_dir = tmp_path / "run"
    data = replace(suite, apps=(evil,)).to_dict()
    RunRecord(run_id="run", suite=data, status="interrupted").write(run_dir)
    alone = run_bench("run", "--resume", str(run_dir), "--quiet")
    assert alone.returncode == 1 and "name the suite file they came from" in alone.stderr
    mismatch = run_bench("run", str(suite_file), "--resume", str(run_dir), "--quiet")
    assert mismatch.returncode == 1 and "checked against it" in mismatch.stderr
    assert not list(tmp_path.rglob("PWNED*"))


def test_resume_refuses_stored_scenarios_that_are_not_built_in_ones(tmp_path: Path) -> None:
    """Parameters and paths stored in run.json reach Locust's command line and the
    verification requests: a results folder must not be able to smuggle any in."""
    from dataclasses import replace

    from harness.suite.parse import parse_suite
    from record.records import RunRecord

    suite = parse_suite(
        {"name": "t", "variants": ["coroutine"], "scenarios": [{"name": "hello"}]}, "t.toml"
    )
    smuggled = replace(suite.scenarios[0], params={"host": 1})
    for i, scenario in enumerate([smuggled, replace(suite.scenarios[0], verify=("@10.1.2.3/",))]):
        run_dir = tmp_path / str(i)
        data = replace(suite, scenarios=(scenario,)).to_dict()
        RunRecord(run_id="r", suite=data, status="interrupted").write(run_dir)
        result = run_bench("run", "--resume", str(run_dir), "--quiet")
        assert result.returncode == 1, result.stderr
        assert "start a new run" in result.stderr or "is not its own" in result.stderr
