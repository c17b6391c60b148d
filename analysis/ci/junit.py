"""JUnit XML for CI servers (Jenkins, GitLab, GitHub test reporters, Azure DevOps), built with
the standard library's ElementTree in the shape of the widely used Jenkins JUnit schema
(xunit-plugin's junit-10.xsd, which GitLab and the GitHub reporters read too):
`<testsuites>` → one `<testsuite>` per run (or comparison) with its tests/failures/errors/
skipped counts → `<testcase name classname time>`, each with at most one `<failure>`, `<error>`
or `<skipped>` carrying a `message` attribute (the reason in one line).

For a run: a testcase per cell for its validity (invalid: a failure with the reason; failed:
an error with the reason; interrupted, or never run because the run stopped: skipped) and one
per threshold and configuration (a
breach is a failure; inconclusive and not judged are skipped with the reason, since neither
is evidence of a breach). For `compare`: one testcase per configuration, failing on a
significant regression beyond the limit."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from analysis import thresholds
from analysis.ci.stopped import Stopped
from analysis.ci.text import printable
from record import io

PASSED, FAILURE, ERROR, SKIPPED = "passed", "failure", "error", "skipped"
# The classname of a cell that never ran: its scenario is known only to the suite's matrix.
NOT_RUN = "validity.not-run"


@dataclass(frozen=True)
class Case:
    """One testcase: what it checks, its outcome and why (one line)."""

    classname: str
    name: str
    outcome: str  # PASSED, FAILURE, ERROR or SKIPPED
    message: str = ""
    kind: str = ""  # the failure's type attribute (invalid, threshold, regression, ...)
    time_s: float = 0.0


@dataclass(frozen=True)
class Suite:
    name: str
    cases: tuple[Case, ...]
    timestamp: float = float("nan")
    properties: tuple[tuple[str, str], ...] = ()


def validity_cases(summary: pd.DataFrame) -> list[Case]:
    """A testcase per cell: valid passes, invalid fails, failed errs, interrupted is skipped."""
    out = []
    for row in summary.itertuples(index=False):
        why = str(getattr(row, "notes", "") or getattr(row, "reason", "") or "")
        why = "" if why == "nan" else why
        status = str(row.status)
        duration = float(getattr(row, "duration_s", 0.0) or 0.0)
        name, cls = str(row.cell_id), f"validity.{row.scenario}"
        if status == "failed":
            out.append(Case(cls, name, ERROR, why or "failed", "failed", duration))
        elif status == "interrupted":
            out.append(Case(cls, name, SKIPPED, why or "interrupted", "interrupted"))
        elif not bool(row.valid):
            out.append(Case(cls, name, FAILURE, why or "invalid", "invalid", duration))
        else:
            out.append(Case(cls, name, PASSED, why, "", duration))
    return out


def unrun_cases(stop: Stopped | None) -> list[Case]:
    """A skipped testcase per planned cell a stopped run never ran, saying why it stopped."""
    if stop is None:
        return []
    return [Case(NOT_RUN, cell_id, SKIPPED, stop.skip_message) for cell_id in stop.unrun]


def threshold_cases(verdicts: list[thresholds.ThresholdVerdict]) -> list[Case]:
    outcome = {
        thresholds.PASS: PASSED,
        thresholds.FAIL: FAILURE,
        thresholds.INCONCLUSIVE: SKIPPED,
        thresholds.NOT_JUDGED: SKIPPED,
    }
    return [
        Case(
            "thresholds",
            f"{v.threshold.name} :: {v.config}",
            outcome[v.verdict],
            f"{v.verdict}: {v.reason}",
            "threshold" if v.verdict == thresholds.FAIL else v.verdict,
        )
        for v in verdicts
    ]


def build_xml(suites: list[Suite]) -> bytes:
    """The document's bytes (UTF-8, with an XML declaration)."""
    root = ET.Element("testsuites", name="tornado-bench")
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    total_time = 0.0
    for suite in suites:
        counts = {
            "tests": len(suite.cases),
            "failures": sum(c.outcome == FAILURE for c in suite.cases),
            "errors": sum(c.outcome == ERROR for c in suite.cases),
            "skipped": sum(c.outcome == SKIPPED for c in suite.cases),
        }
        seconds = sum(c.time_s for c in suite.cases)
        attrs = {k: str(v) for k, v in counts.items()} | {"time": f"{seconds:.3f}"}
        if suite.timestamp == suite.timestamp:  # not NaN
            stamp = datetime.fromtimestamp(suite.timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            attrs["timestamp"] = stamp
        node = ET.SubElement(root, "testsuite", {"name": suite.name, **attrs})
        if suite.properties:
            props = ET.SubElement(node, "properties")
            for prop, text in suite.properties:
                ET.SubElement(props, "property", name=prop, value=text)
        for case in suite.cases:
            _case(node, case)
        for key in totals:
            totals[key] += counts[key]
        total_time += seconds
    for key, value in totals.items():
        if key != "skipped":  # the schema's <testsuites> has no skipped count
            root.set(key, str(value))
    root.set("time", f"{total_time:.3f}")
    _printable(root)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _printable(root: ET.Element) -> None:
    """Every attribute and text of the tree without the characters XML 1.0 forbids (text.py):
    ElementTree writes them as they are, and one would make every reader refuse the file."""
    for node in root.iter():
        for key, value in node.attrib.items():
            node.set(key, printable(value))
        if node.text:
            node.text = printable(node.text)


def _case(parent: ET.Element, case: Case) -> None:
    node = ET.SubElement(
        parent, "testcase", name=case.name, classname=case.classname, time=f"{case.time_s:.3f}"
    )
    if case.outcome == PASSED:
        if case.message:
            ET.SubElement(node, "system-out").text = case.message
        return
    child = ET.SubElement(node, case.outcome, message=case.message)
    if case.outcome != SKIPPED:
        child.set("type", case.kind or case.outcome)
        child.text = case.message


def write(path: Path, suites: list[Suite]) -> None:
    try:
        io.write_bytes(path, build_xml(suites))
    except OSError as exc:
        raise io.UserError(f"--junit: cannot write {path} ({exc.strerror or exc})") from None
