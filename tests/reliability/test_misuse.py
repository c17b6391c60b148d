"""CLI misuse through `python run_bench.py`: a remote target without --allow-remote (an IP, a
host name, and one smuggled in through a tampered run.json given to --resume), a results
folder that cannot be created, and a results disk that fills up (RLIMIT_FSIZE).

Expected every time: exit status 1 or 2, a one-line error on stderr and no traceback,
nothing half-written (every JSON file parses, every Parquet file reads, no temp file left),
nothing left running, and no traffic to anything but loopback.

Every run goes through a small guard (`python -c GUARD`, which runs run_bench.py as
__main__): a Python audit hook that ends the process with status 97 *before* any
non-loopback connect or name lookup happens, so "refused before any traffic" is proven, not
assumed, and a harness that tries cannot reach the network. The run is a Popen watched with
psutil (like tests/harness/test_runner.py's Watch), so its descendants can be checked after.

`misuse_case` is a plain function returning an outcome; tests/reliability/figures.py reuses it.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import pyarrow.parquet as pq
import pytest

from tests.conftest import ROOT
from tests.harness.test_runner import Watch

pytestmark = pytest.mark.reliability

GUARD_EXIT = 97
RUN_TIMEOUT_S = 120.0
# bytes per file: the report (~180 KB) cannot be written, a chart (<60 KB) can
FSIZE_LIMIT = 120_000
FSIZE_TINY = 6_000  # bytes per file: the cell fits (compressed Parquet), no chart does

# Runs run_bench.py as __main__ with an audit hook that refuses (status 97) any connect or
# name lookup that is not loopback, before it happens.
GUARD = r"""
import os, runpy, socket, sys
_OWN = {socket.gethostname()}
def _loopback(host):
    if isinstance(host, bytes):
        host = host.decode("latin-1")
    if host is None or host in ("", "localhost", "::1") or host in _OWN:
        return True
    return isinstance(host, str) and host.startswith("127.")
def _block(event, what):
    os.write(2, f"GUARD: {event} {what!r}\n".encode())
    os._exit(97)
def _hook(event, args):
    if event == "socket.connect":
        address = args[1]
        if isinstance(address, tuple) and not _loopback(address[0]):
            _block(event, address)
    elif event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
                   "socket.gethostbyaddr", "socket.sendto", "socket.sendmsg"):
        if event.startswith("socket.send"):
            address = args[-1]
            if isinstance(address, tuple) and not _loopback(address[0]):
                _block(event, address)
        elif not _loopback(args[0]):
            _block(event, args[0])
sys.addaudithook(_hook)
sys.argv = ["run_bench.py", *sys.argv[1:]]
runpy.run_path("run_bench.py", run_name="__main__")
"""

TINY_SUITE = """
name = "tiny"
description = "one short cell, for misuse tests"
duration_s = 1
warmup_s = 0.2
variants = ["coroutine"]
users = [4]

[[scenarios]]
name = "sleep"
params = { ms = 20 }
"""

TARGET_SUITE = """
name = "{name}"
description = "a target suite"
duration_s = 1
warmup_s = 0.2
target = "{target}"
users = [2]

[[scenarios]]
name = "hello"
"""


@dataclass
class MisuseOutcome:
    case: str
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    descendants: int  # processes seen below the harness while it ran
    leftovers: set[int]  # of those, still running after it exited
    half_written: list[str]  # files in the results folder that are not whole
    files: int  # files in the results folder
    network: list[str] = field(default_factory=list)  # non-loopback attempts the guard stopped

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]

    @property
    def traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.stderr

    def summary(self) -> str:
        return (
            f"{self.case}: exit {self.returncode} in {self.seconds:.1f} s, "
            f"stderr {self.stderr_lines[-6:]!r}, half-written {self.half_written}, "
            f"leftovers {sorted(self.leftovers)}, network {self.network}"
        )


def run_cli(
    args: list[str], *, preexec: Callable[[], None] | None = None, timeout: float = RUN_TIMEOUT_S
) -> tuple[int, str, str, float, Watch]:
    """`python run_bench.py ARGS` under the network guard, watched until it exits."""
    started = time.monotonic()
    popen = subprocess.Popen(
        [sys.executable, "-c", GUARD, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec,
    )
    watch = Watch(popen)
    stdout, stderr = "", ""
    try:
        while True:
            watch.poll()
            try:
                stdout, stderr = popen.communicate(timeout=0.05)
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() - started > timeout:
                    break
    finally:
        if popen.poll() is None:  # over time (or interrupted): never leave it behind
            watch.poll()
            popen.kill()
            stdout, stderr = popen.communicate()
            stderr += f"\n(killed after {timeout:.0f} s)"
    # Children are reaped by the harness; give the kernel a moment to finish the job.
    deadline = time.monotonic() + 3.0
    while watch.leftovers() and time.monotonic() < deadline:
        time.sleep(0.05)
    return popen.returncode, stdout, stderr, time.monotonic() - started, watch


def half_written(folder: Path, ignore: frozenset[Path] = frozenset()) -> tuple[list[str], int]:
    """Files under folder that are not whole (and how many files there are), except those
    in `ignore`."""
    bad: list[str] = []
    count = 0
    if not folder.exists():
        return bad, 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p not in ignore):
        count += 1
        rel = str(path.relative_to(folder))
        try:
            if path.name.startswith(".") and path.name.endswith(".tmp"):
                bad.append(f"{rel}: temp file left behind")
            elif path.suffix == ".json":
                json.loads(path.read_text(encoding="utf-8"))
            elif path.suffix == ".parquet":
                pq.read_table(path)
            elif path.suffix == ".html" and not path.read_bytes().rstrip().endswith(b"</html>"):
                bad.append(f"{rel}: no </html> at the end")
            elif path.suffix == ".svg" and not path.read_bytes().rstrip().endswith(b"</svg>"):
                bad.append(f"{rel}: no </svg> at the end")
            elif path.suffix == ".png" and not path.read_bytes().endswith(b"IEND\xae\x42\x60\x82"):
                bad.append(f"{rel}: no IEND chunk at the end")
        except Exception as exc:
            bad.append(f"{rel}: {type(exc).__name__}: {str(exc)[:120]}")
    return bad, count


def _fsize_preexec(limit: int) -> Callable[[], None]:
    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


# -- the cases: each prepares a working folder and says how to run and what to inspect ------


class Setup(NamedTuple):
    args: list[str]
    preexec: Callable[[], None] | None
    out: Path  # the results folder to inspect afterwards
    planted: frozenset[Path] = frozenset()  # broken on purpose by the case, not by the harness


def _target_suite(work: Path, target: str) -> Path:
    suite = work / "remote.toml"
    suite.write_text(TARGET_SUITE.format(name="remote", target=target))
    return suite


def case_remote_ip(work: Path) -> Setup:
    out = work / "results"
    return Setup(
        ["run", str(_target_suite(work, "http://10.0.0.1:80")), "--out", str(out)], None, out
    )


def case_remote_name(work: Path) -> Setup:
    out = work / "results"
    suite = _target_suite(work, "http://example.invalid:80")
    return Setup(["run", str(suite), "--out", str(out)], None, out)


def case_remote_resume(work: Path) -> Setup:
    """A run folder whose run.json was edited to load 10.0.0.1 (say, a results folder handed
    over by someone else), resumed without --allow-remote."""
    import tomllib

    from harness.suite.parse import parse_suite
    from record.records import RunRecord

    data = tomllib.loads(TARGET_SUITE.format(name="handed", target="http://127.0.0.1:9"))
    suite = replace(parse_suite(data, "handed.toml"), target="http://10.0.0.1:80")
    run_dir = work / "results" / "20260101-000000-handed"
    RunRecord(
        run_id=run_dir.name,
        suite=suite.to_dict(),
        cells=tuple(c.cell_id for c in suite.cells()),
        status="interrupted",
        started=time.time(),
    ).write(run_dir)
    return Setup(["run", "--resume", str(run_dir)], None, work / "results")


def case_out_under_file(work: Path) -> Setup:
    """--out names a path below a regular file: no one (root included) can create it."""
    blocker = work / "not-a-dir"
    blocker.write_text("a regular file\n")
    out = blocker / "results"
    return Setup(["run", "smoke", "--out", str(out), "--quiet"], None, work)


def case_out_read_only(work: Path) -> Setup:
    """--out inside a directory with mode 0500 (root can write there anyway)."""
    locked = work / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    return Setup(["run", "smoke", "--out", str(locked / "results"), "--quiet"], None, locked)


def _tiny(work: Path) -> Path:
    suite = work / "tiny.toml"
    suite.write_text(TINY_SUITE)
    return suite


def case_disk_full_report(work: Path) -> Setup:
    """Every file may hold 120 KB: the cell and its charts fit, the report does not."""
    out = work / "results"
    args = ["run", str(_tiny(work)), "--out", str(out), "--quiet"]
    return Setup(args, _fsize_preexec(FSIZE_LIMIT), out)


def case_disk_full_cell(work: Path) -> Setup:
    """Every file may hold 6 KB: the cell's records fit, its charts do not."""
    out = work / "results"
    args = ["run", str(_tiny(work)), "--out", str(out), "--quiet"]
    return Setup(args, _fsize_preexec(FSIZE_TINY), out)


def _resume_with(work: Path, run_json: str) -> Setup:
    run_dir = work / "results" / "20260101-000000-broken"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(run_json)
    planted = frozenset({run_dir / "run.json"})
    return Setup(["run", "--resume", str(run_dir)], None, work / "results", planted)


def case_resume_truncated(work: Path) -> Setup:
    """--resume of a folder whose run.json was cut short (a crash of some other tool)."""
    return _resume_with(work, '{"schema_version": 1, "suite": {')


def case_resume_bad_suite(work: Path) -> Setup:
    """--resume of a folder whose run.json is JSON of the right version but holds no usable
    suite (hand-edited, or from another tool)."""
    return _resume_with(
        work,
        '{"schema_version": 1, "run_id": "x", "suite": {"name": "x"}, "status": "interrupted"}',
    )


CASES: dict[str, Callable[[Path], Setup]] = {
    "remote-ip": case_remote_ip,
    "remote-name": case_remote_name,
    "remote-resume": case_remote_resume,
    "out-under-file": case_out_under_file,
    "out-read-only": case_out_read_only,
    "disk-full-report": case_disk_full_report,
    "disk-full-cell": case_disk_full_cell,
    "resume-truncated": case_resume_truncated,
    "resume-bad-suite": case_resume_bad_suite,
}


def misuse_case(name: str, work: Path) -> MisuseOutcome:
    """Prepare case `name` in the folder `work`, run it, and judge what it left."""
    work.mkdir(parents=True, exist_ok=True)
    setup = CASES[name](work)
    try:
        code, stdout, stderr, seconds, watch = run_cli(setup.args, preexec=setup.preexec)
    finally:
        with contextlib.suppress(OSError):  # let pytest's tmp cleanup remove it
            (work / "locked").chmod(0o700)
    bad, files = half_written(setup.out, ignore=setup.planted)
    network = [line for line in stderr.splitlines() if line.startswith("GUARD:")]
    leftovers = watch.leftovers()
    for pid in leftovers:  # never leave them to the next test
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return MisuseOutcome(
        case=name,
        returncode=code,
        stdout=stdout,
        stderr=stderr,
        seconds=seconds,
        descendants=len(watch.seen),
        leftovers=leftovers,
        half_written=bad,
        files=files,
        network=network,
    )


# -- the tests ------------------------------------------------------------------------------

# Builds charts and a report under a file-size limit: 10-20 s on a busy 2-core machine.
SLOW_CASES = {"disk-full-report"}
# Product bugs found by these cases (reported; not fixed here).
# Cases that show a product bug still open (strict: fixing it turns the case red).
XFAIL: dict[str, str] = {}


def _param(name: str) -> object:
    marks: list[pytest.MarkDecorator] = []
    if name == "out-read-only":
        marks.append(
            pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a 0500 directory")
        )
    if name in SLOW_CASES:
        marks.append(pytest.mark.slow)
    if name in XFAIL:
        marks.append(pytest.mark.xfail(strict=True, reason=XFAIL[name]))
    return pytest.param(name, marks=marks, id=name)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, MisuseOutcome]:
    """Each case runs once (on first use) and is judged by several tests."""
    cache: dict[str, MisuseOutcome] = {}

    class Lazy(dict):  # type: ignore[type-arg]
        def __missing__(self, name: str) -> MisuseOutcome:
            cache[name] = misuse_case(name, tmp_path_factory.mktemp(name))
            self[name] = cache[name]
            return cache[name]

    return Lazy()


@pytest.mark.parametrize("name", [_param(n) for n in CASES])
def test_misuse_is_refused_cleanly(outcomes: dict[str, MisuseOutcome], name: str) -> None:
    """Exit 1 or 2, one line on stderr and no traceback, nothing half-written,
    nothing left running, nothing sent off the machine."""
    o = outcomes[name]
    assert o.network == [], o.summary()
    assert o.returncode in (1, 2), o.summary()
    assert not o.traceback, o.summary()
    assert len(o.stderr_lines) == 1, o.summary()
    assert o.half_written == [], o.summary()
    assert o.leftovers == set(), o.summary()


@pytest.mark.parametrize("name", [_param(n) for n in ("remote-ip", "remote-name", "remote-resume")])
def test_remote_target_is_refused_before_anything_starts(
    outcomes: dict[str, MisuseOutcome], name: str
) -> None:
    """Refused with exit 1 naming --allow-remote; no lookup, no connect, no process, and no
    new file in the results folder."""
    o = outcomes[name]
    assert o.network == [], o.summary()
    assert o.returncode == 1, o.summary()
    assert "--allow-remote" in o.stderr, o.summary()
    assert o.descendants == 0, o.summary()
    assert o.files == (1 if name == "remote-resume" else 0), o.summary()  # run.json only
