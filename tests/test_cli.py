"""run_bench.py commands that need no load: serve, compare exit codes, report errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.processes import procs
from tests.analysis.fixtures import noisy_run
from tests.conftest import ROOT, run_bench, run_main


def test_serve_runs_one_variant_in_the_foreground() -> None:
    port = procs.free_port()
    popen = subprocess.Popen(
        [
            sys.executable,
            "run_bench.py",
            "serve",
            "threadpool",
            "--port",
            str(port),
            "--loop",
            "uvloop",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        health = procs.wait_ready(f"http://127.0.0.1:{port}/health")
        assert health["variant"] == "threadpool" and health["loop"] == "uvloop.Loop"
        popen.send_signal(signal.SIGINT)  # Ctrl-C in a terminal
        assert popen.wait(timeout=10) == 0
    finally:
        if popen.poll() is None:
            popen.kill()
            popen.wait()


def test_serve_takes_every_launcher_option(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The options the README and the server's own 503 name (--db-url, --upload,
    --max-upload-bytes, ...) reach the launcher as `python -m servers` would take them."""
    from servers import launch

    seen: list[list[str]] = []
    monkeypatch.setattr(launch, "main", lambda argv: seen.append(list(argv)) or 0)
    args = ["serve", "sync", "--port", "0", "--db-url", "postgresql://me@127.0.0.1/db"]
    args += ["--upload", "streamed", "--max-upload-bytes", "1000", "--db-pool", "3"]
    assert run_main(capsys, *args).returncode == 0
    (argv,) = seen
    assert argv[argv.index("--db-url") + 1] == "postgresql://me@127.0.0.1/db"
    assert argv[argv.index("--upload") + 1] == "streamed"
    assert argv[argv.index("--max-upload-bytes") + 1] == "1000"
    refused = run_main(capsys, "serve", "coroutine", "--reuse-port")
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "error: serve: --reuse-port is for a forking strategy (multiprocess) only"
    )


def shifted_run(path: Path, rate: float) -> None:
    noisy_run(path, rate=rate, latency_ms=50.0, seconds=8, jitter=3, spread_ms=2.0, seed=7)


def test_compare_with_one_repeat_a_side_never_fails_the_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One run per side cannot tell a change from the noise between runs (±15-30 % here):
    compare says so, and --fail-on-regression does not fail (tests/analysis/test_compare.py
    covers the gate with repeats)."""
    shifted_run(tmp_path / "base", 200)
    shifted_run(tmp_path / "new", 150)
    plain = run_main(capsys, "compare", str(tmp_path / "base"), str(tmp_path / "new"))
    assert plain.returncode == 0, plain.stderr
    assert "not enough repeats to judge" in plain.stdout and "-24." in plain.stdout
    gate = run_main(
        capsys,
        "compare",
        str(tmp_path / "base"),
        str(tmp_path / "new"),
        "--fail-on-regression",
        "10",
    )
    assert gate.returncode == 0, gate.stderr


def test_report_on_a_folder_of_another_schema_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shifted_run(tmp_path / "run", 100)
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    meta["schema_version"] = 99
    (tmp_path / "run" / "run.json").write_text(json.dumps(meta))
    result = run_main(capsys, "report", str(tmp_path / "run"))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "schema_version 99 is not supported" in lines[0]


def test_report_prints_table_and_path(tmp_path: Path) -> None:
    shifted_run(tmp_path / "run", 100)
    result = run_bench("report", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == f"report: {tmp_path / 'run' / 'report.html'}"
    assert any("coroutine-asyncio-sleep-ms50-u10-r1" in line for line in lines)
