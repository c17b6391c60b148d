"""The CI outputs survive any app's output: JUnit written for a cell whose reason holds an app's
terminal colours, a bell and a NUL parses with ElementTree and validates against the Jenkins
JUnit schema (xunit-plugin's junit-10.xsd, vendored beside this file with its MIT licence,
byte for byte from src/main/resources/org/jenkinsci/plugins/xunit/types/model/xsd/); the job
summary carries no control character; --junit and --summary-md paths are made or refused before
anything starts; an aborted run lists the cells it never ran as skipped and says why."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

import run_bench
from analysis.ci import job_summary
from analysis.ci.text import printable
from commands import common
from commands.main import build_parser
from record import io
from record.thresholds import Threshold
from tests.analysis.fixtures import cell, steady_requests, write_cell, write_run

SCHEMA = xmlschema.XMLSchema10(Path(__file__).with_name("junit-10.xsd"))
# XML 1.0's Char production: anything else must not appear in the document, escaped or not.
NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # what a Markdown page must not carry
APP_LOG = "app exited 1: \x1b[31mERROR\x1b[0m database down\x07 then \x00 and \x1b]0;title\x07."


@pytest.fixture(autouse=True)
def no_step_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(job_summary.STEP_SUMMARY_VAR, raising=False)


def assert_valid_junit(path: Path) -> ET.Element:
    """Parsed by ElementTree, valid against junit-10.xsd, and every character allowed."""
    text = path.read_text(encoding="utf-8")
    assert not NOT_XML_CHAR.search(text), NOT_XML_CHAR.findall(text)
    root = ET.parse(path).getroot()
    SCHEMA.validate(str(path))
    return root


def _failed_app_run(path: Path) -> str:
    """An ok cell and a failed one whose reason is an app's log tail with control bytes."""
    ok, bad = cell("coroutine", users=4), cell("sync", users=4)
    write_run(path, [ok, bad])
    write_cell(path, ok, requests=steady_requests(50, 20.0))
    write_cell(path, bad, requests=None, window=None, status="failed", reason=APP_LOG)
    return bad.cell_id


def test_printable_strips_colours_and_escapes_what_xml_forbids() -> None:
    assert printable("\x1b[1;31mred\x1b[0m") == "red"
    assert printable("bell\x07 nul\x00 ff\x0c del\x7f") == "bell\\x07 nul\\x00 ff\\x0c del\\x7f"
    assert printable("tab\tline\nreturn\r") == "tab\tline\nreturn\r"  # allowed: kept
    assert printable("\ufffe\uffff") == "\\ufffe\\uffff"
    assert printable("title\x1b]0;window\x07 after") == "title after"
    assert printable("lone \x1b") == "lone \\x1b"
    assert printable("ünïcode ✓ 日本") == "ünïcode ✓ 日本"


def test_junit_for_an_app_log_with_control_bytes_is_valid(tmp_path: Path) -> None:
    run_dir, xml, md = tmp_path / "run", tmp_path / "junit.xml", tmp_path / "summary.md"
    failed = _failed_app_run(run_dir)
    args = ["report", str(run_dir), "--quiet", "--junit", str(xml), "--summary-md", str(md)]
    assert run_bench.main(args) == common.EXIT_FAILED_CELLS
    root = assert_valid_junit(xml)
    case = next(c for c in root.iter("testcase") if c.get("name") == failed)
    error = case.find("error")
    assert error is not None
    message = error.get("message", "")
    # The colours are gone, the bell and the NUL visible, the words all there.
    assert "ERROR database down\\x07 then \\x00 and ." in message
    assert error.text == message
    summary = md.read_text(encoding="utf-8")
    assert not CONTROL.search(summary)
    assert "ERROR database down\\x07" in summary


def test_junit_escapes_every_attribute_and_text(tmp_path: Path) -> None:
    """Not only the reason: a suite's name, a property, a passing cell's note."""
    from analysis.ci import junit

    case = junit.Case("validity.x\x1b[2m", "cell\x01", junit.PASSED, "note \x08")
    suite = junit.Suite("run\x0b", (case,), properties=(("suite", "n\x1f"),))
    xml = tmp_path / "j.xml"
    junit.write(xml, [suite])
    root = assert_valid_junit(xml)
    node = root.find("testsuite/testcase")
    assert node is not None and node.get("name") == "cell\\x01"
    assert node.get("classname") == "validity.x"
    assert node.findtext("system-out") == "note \\x08"


def test_summary_md_into_a_missing_folder_is_written(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    _failed_app_run(run_dir)
    md, xml = tmp_path / "missing" / "dir" / "x.md", tmp_path / "other" / "j.xml"
    args = ["report", str(run_dir), "--quiet", "--summary-md", str(md), "--junit", str(xml)]
    assert run_bench.main(args) == common.EXIT_FAILED_CELLS
    assert md.read_text().startswith("## tornado-bench run")
    assert_valid_junit(xml)
    # `run` reads the same option: the path is accepted when the command line is read.
    parsed = build_parser().parse_args(["run", "smoke", "--summary-md", str(md)])
    assert parsed.summary_md == md


@pytest.mark.parametrize("option", ["--summary-md", "--junit"])
def test_an_impossible_path_is_refused_before_the_first_cell(
    tmp_path: Path, option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "afile").write_text("")
    out = tmp_path / "results"
    started = time.monotonic()
    bad = tmp_path / "afile" / "dir" / "x.md"  # under a file: no folder can be made there
    code = run_bench.main(["run", "smoke", "--out", str(out), option, str(bad)])
    assert code == common.EXIT_USER
    assert time.monotonic() - started < 10  # refused, not run
    assert not out.exists()  # nothing started: no results folder
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: {option}: cannot write") and "afile" in err
    folder = tmp_path / "a-folder"
    folder.mkdir()
    assert run_bench.main(["run", "smoke", "--out", str(out), option, str(folder)]) == 1
    assert "it is a folder" in capsys.readouterr().err
    assert not out.exists()


def _aborted_run(path: Path) -> list[str]:
    """Four planned cells; the second breached p99 <= 50 (abort_on_fail) and the run stopped
    there: two cells never ran."""
    cells = [cell(v, users=4, params={"ms": 20}) for v in ("coroutine", "sync", "fanout")]
    cells.append(cell("threadpool", users=4, params={"ms": 20}))
    write_run(path, cells)
    write_cell(path, cells[0], requests=steady_requests(10, 20.0))
    write_cell(path, cells[1], requests=steady_requests(10, 80.0))
    run = io.read_json(path / "run.json")
    run["status"] = "aborted"
    run["suite"]["thresholds"] = [Threshold(metric="p99_ms", max=50, abort_on_fail=True).to_dict()]
    io.write_json(path / "run.json", run)
    return [c.cell_id for c in cells[2:]]


def test_an_aborted_run_lists_its_unrun_cells_as_skipped(tmp_path: Path) -> None:
    run_dir, xml, md = tmp_path / "run", tmp_path / "j.xml", tmp_path / "s.md"
    unrun = _aborted_run(run_dir)
    args = ["report", str(run_dir), "--quiet", "--junit", str(xml), "--summary-md", str(md)]
    assert run_bench.main(args) == common.EXIT_THRESHOLD
    root = assert_valid_junit(xml)
    (suite,) = root.findall("testsuite")
    skipped = {
        c.get("name"): c.find("skipped")
        for c in suite.iter("testcase")
        if c.get("classname") == "validity.not-run"
    }
    assert sorted(skipped) == sorted(unrun)
    for node in skipped.values():
        assert node is not None
        message = node.get("message", "")
        assert message.startswith("not run: abort_on_fail: p99_ms <= 50 failed on sync")
    # 2 cells judged + 2 never run + the threshold on the 2 measured configurations
    assert suite.get("tests") == "6" and suite.get("skipped") == "2"
    text = md.read_text()
    assert "2 ok, 2 not run" in text  # the counts say the suite is short
    assert "**The suite stopped early: abort_on_fail: p99_ms <= 50 failed on sync" in text
    assert "2 of 4 cells never ran.**" in text
    assert "### Cells not run" in text and all(f"`{c}`" in text for c in unrun)


def test_a_complete_run_has_no_unrun_cases(tmp_path: Path) -> None:
    run_dir, xml, md = tmp_path / "run", tmp_path / "j.xml", tmp_path / "s.md"
    _failed_app_run(run_dir)
    run_bench.main(
        ["report", str(run_dir), "--quiet", "--junit", str(xml), "--summary-md", str(md)]
    )
    root = assert_valid_junit(xml)
    assert not [c for c in root.iter("testcase") if c.get("classname") == "validity.not-run"]
    assert "stopped early" not in md.read_text() and "not run" not in md.read_text()
