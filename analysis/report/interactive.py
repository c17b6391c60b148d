"""What makes report.html explorable, inlined into it so it stays one file that opens from disk
with no network: the vendored uPlot (vendor/uplot/, its version and licence in
vendor/README.md), the page's own script (assets/report.js: the charts, sortable and
filterable tables) and the interactive charts' data as JSON in a script element.

Why uPlot: 51 KB minified (22 KB gzipped) with no dependency, canvas drawing that keeps
thousands of points fast, log scales, drag to zoom, a synced cursor between panels and hooks
to draw the bounds and marks this report needs. ECharts (Locust's report) is about 1 MB,
Chart.js about 200 KB, Plotly 3.5 MB: each would weigh more than the rest of the page."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from analysis.figures.interactive import InteractiveChart

HERE = Path(__file__).parent
UPLOT_JS = HERE / "vendor" / "uplot" / "uPlot.iife.min.js"
UPLOT_CSS = HERE / "vendor" / "uplot" / "uPlot.min.css"
UPLOT_LICENSE = HERE / "vendor" / "uplot" / "LICENSE"
PAGE_JS = HERE / "assets" / "report.js"
# A script element ends at the first "</script" whatever the quoting; an HTML comment opener
# or another "<script" inside one changes how the parser reads what follows. None may appear
# in inlined code.
CLOSES_SCRIPT = re.compile(r"</?script|<!--", re.IGNORECASE)


@dataclass(frozen=True)
class PageScript:
    """The inline parts of the page, each checked safe to place inside its element."""

    style: str  # uPlot's CSS
    script: str  # uPlot, its licence as a comment, then report.js
    data: str  # {"charts": {name: chart}} as JSON, safe inside <script type=application/json>

    def __post_init__(self) -> None:
        for name in ("script", "data"):
            if CLOSES_SCRIPT.search(getattr(self, name)):
                raise ValueError(f"the page's {name} would end its <script> element early")
        if "</style" in self.style.lower():
            raise ValueError("the page's style would end its <style> element early")


def chart_json(charts: Mapping[str, InteractiveChart]) -> str:
    """The charts as compact JSON with <, > and & written as \\u escapes: a value (a cell id,
    an app's name) can never close the script element or open a comment in it."""
    body = {"charts": {name: chart.to_json() for name, chart in charts.items()}}
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def page_script(charts: Mapping[str, InteractiveChart]) -> PageScript:
    """Read the vendored library and the page's script (a few files, read per report: no
    state kept between reports) and the charts' data."""
    licence = UPLOT_LICENSE.read_text(encoding="utf-8").replace("*/", "* /")
    script = "\n".join(
        [
            f"/* uPlot, vendored from the npm registry; its licence:\n{licence}*/",
            UPLOT_JS.read_text(encoding="utf-8"),
            PAGE_JS.read_text(encoding="utf-8"),
        ]
    )
    return PageScript(UPLOT_CSS.read_text(encoding="utf-8"), script, chart_json(charts))
