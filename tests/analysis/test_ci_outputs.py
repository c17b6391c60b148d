"""JUnit XML (run/report and compare) parses with ElementTree, with the right counts and the
reasons; the Markdown job summary is written only when asked (--summary-md or
$GITHUB_STEP_SUMMARY)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import run_bench
from analysis.ci import job_summary
from commands import common
from record import io
from record.thresholds import Threshold
from tests.analysis.fixtures import T0, cell, steady_requests, write_cell, write_run
from tests.analysis.test_compare import SPEED, write_repeats

SLOW = "sync-asyncio-sleep-ms20-u4-r1"
# The Jenkins JUnit schema (xunit-plugin, junit-10.xsd): attributes each element may have,
# those it must have, and its children.
SCHEMA = {
    "testsuites": ({"name", "time", "tests", "failures", "errors"}, set(), {"testsuite"}),
    "testsuite": (
        {
            "name",
            "tests",
            "failures",
            "errors",
            "group",
            "time",
            "skipped",
            "timestamp",
            "hostname",
            "id",
            "package",
            "file",
            "log",
            "url",
        },
        {"name", "tests", "failures", "errors"},
        {"testsuite", "properties", "testcase", "system-out", "system-err"},
    ),
    "properties": (set(), set(), {"property"}),
    "property": ({"name", "value"}, {"name", "value"}, set()),
    "testcase": (
        {"name", "time", "classname", "group"},
        {"name"},
        {"skipped", "error", "failure", "system-out", "system-err"},
    ),
    "failure": ({"type", "message"}, set(), set()),
    "error": ({"type", "message"}, set(), set()),
    "skipped": ({"type", "message"}, set(), set()),
    "system-out": (set(), set(), set()),
}
TIME = re.compile(r"(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]*)?")


def assert_schema_shape(node: ET.Element) -> None:
    allowed, required, children = SCHEMA[node.tag]
    assert set(node.attrib) <= allowed and required <= set(node.attrib), node.tag
    if "time" in node.attrib and node.tag != "testcase":
        assert TIME.fullmatch(node.attrib["time"]), node.attrib["time"]
    for child in node:
        assert child.tag in children, (node.tag, child.tag)
        assert_schema_shape(child)


def _run(path: Path) -> None:
    """Three cells: coroutine valid and fast, sync valid and slow (breaches p99 <= 50),
    threadpool failed at verification; thresholds p99 <= 50 and rps >= 1."""
    cells = [cell(v, users=4, params={"ms": 20}) for v in ("coroutine", "sync", "threadpool")]
    write_run(path, cells)
    write_cell(path, cells[0], requests=steady_requests(10, 20.0))
    write_cell(path, cells[1], requests=steady_requests(10, 80.0))
    write_cell(path, cells[2], requests=None, status="failed", reason="verification failed: 500")
    run = io.read_json(path / "run.json")
    run["suite"]["thresholds"] = [
        Threshold(metric="p99_ms", max=50).to_dict(),
        Threshold(metric="rps", min=1).to_dict(),
    ]
    io.write_json(path / "run.json", run)


@pytest.fixture
def no_step_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(job_summary.STEP_SUMMARY_VAR, raising=False)


def test_report_junit_counts_and_reasons(tmp_path: Path, no_step_summary: None, capsys) -> None:
    run_dir, xml = tmp_path / "run", tmp_path / "out" / "junit.xml"
    _run(run_dir)
    (tmp_path / "out").mkdir()
    code = run_bench.main(["report", str(run_dir), "--quiet", "--junit", str(xml)])
    assert code == common.EXIT_THRESHOLD
    root = ET.parse(xml).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    # 3 validity cases + 2 thresholds × 2 judged configurations + 2 × 1 not judged
    assert len(cases) == 3 + 2 * 3 == int(suite.get("tests", ""))
    assert suite.get("failures") == "1"  # sync breaches p99
    assert suite.get("errors") == "1"  # threadpool failed
    assert suite.get("skipped") == "2"  # both thresholds on threadpool: not judged
    assert root.get("tests") == "9" and root.get("failures") == "1"
    assert_schema_shape(root)
    by_name = {c.get("name"): c for c in cases}
    failed = by_name[f"{SLOW.removesuffix('-r1')}".join(["p99_ms <= 50 :: ", ""])]
    failure = failed.find("failure")
    assert failure is not None and "breaches" in failure.get("message", "")
    error = by_name["threadpool-asyncio-sleep-ms20-u4-r1"].find("error")
    assert error is not None and "verification failed: 500" in error.get("message", "")
    assert suite.get("name") == run_dir.name and suite.get("timestamp") == "2023-11-14T22:13:20"
    for case in cases:
        assert case.get("classname") and case.get("time") is not None
    assert not (tmp_path / "summary.md").exists()  # not asked


def test_an_invalid_cell_is_a_failure_with_its_reason(tmp_path: Path, no_step_summary) -> None:
    c = cell("coroutine", users=4, params={"ms": 20})
    write_run(tmp_path, [c])
    # 500 req/s against a bound of 200: more than 1.05x the model, invalid.
    write_cell(tmp_path, c, requests=steady_requests(500, 20.0, T0, T0 + 4))
    xml = tmp_path / "j.xml"
    assert run_bench.main(["report", str(tmp_path), "--quiet", "--junit", str(xml)]) == 0
    suite = ET.parse(xml).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1" and suite.get("tests") == "1"
    failure = suite.find("testcase/failure")
    assert failure is not None and failure.get("type") == "invalid"
    assert "bound" in failure.get("message", "")


def test_summary_md_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    run_dir = tmp_path / "run"
    _run(run_dir)
    monkeypatch.delenv(job_summary.STEP_SUMMARY_VAR, raising=False)
    run_bench.main(["report", str(run_dir), "--quiet"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # nothing else written
    md = tmp_path / "summary.md"
    run_bench.main(["report", str(run_dir), "--quiet", "--summary-md", str(md)])
    text = md.read_text()
    assert "### Thresholds" in text and "| fail | `p99_ms <= 50` |" in text
    assert "### Cells not trusted" in text and "verification failed: 500" in text
    assert "### Ranking" in text
    step = tmp_path / "step.md"
    step.write_text("earlier step\n")
    monkeypatch.setenv(job_summary.STEP_SUMMARY_VAR, str(step))
    run_bench.main(["report", str(run_dir), "--quiet"])
    appended = step.read_text()
    assert appended.startswith("earlier step\n") and "### Thresholds" in appended


def test_compare_junit_one_case_per_configuration(tmp_path: Path, no_step_summary) -> None:
    write_repeats(tmp_path / "base", [100, 104, 97], [50, 52, 49], SPEED)
    write_repeats(tmp_path / "new", [70, 73, 68], [71, 74, 70], SPEED)
    xml, md = tmp_path / "c.xml", tmp_path / "c.md"
    args = ["compare", str(tmp_path / "base"), str(tmp_path / "new"), "--junit", str(xml)]
    code = run_bench.main([*args, "--fail-on-regression", "10", "--summary-md", str(md)])
    assert code == common.EXIT_REGRESSION
    suite = ET.parse(xml).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "1" and suite.get("failures") == "1"
    failure = suite.find("testcase/failure")
    assert failure is not None and "regression beyond 10%" in failure.get("message", "")
    assert_schema_shape(ET.parse(xml).getroot())
    assert "slower (code)" in failure.get("message", "")
    assert "1 regression(s)" in md.read_text()
    assert run_bench.main([*args, "--fail-on-regression", "40"]) == 0
    suite = ET.parse(xml).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0"


def test_compare_without_enough_repeats_is_skipped(tmp_path: Path, no_step_summary) -> None:
    write_repeats(tmp_path / "base", [100], [50], None)
    write_repeats(tmp_path / "new", [50], [100], None)
    xml = tmp_path / "c.xml"
    run_bench.main(["compare", str(tmp_path / "base"), str(tmp_path / "new"), "--junit", str(xml)])
    skipped = ET.parse(xml).getroot().find("testsuite/testcase/skipped")
    assert skipped is not None and "not enough repeats" in skipped.get("message", "")


def test_junit_to_an_unwritable_place_is_one_line(tmp_path: Path, no_step_summary, capsys) -> None:
    _run(tmp_path / "run")
    (tmp_path / "afile").write_text("")
    bad = tmp_path / "afile" / "j.xml"  # under a file: no folder can be made there
    assert run_bench.main(["report", str(tmp_path / "run"), "--quiet", "--junit", str(bad)]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: --junit: cannot write") and "afile" in err
