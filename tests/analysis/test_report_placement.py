"""The ranking's sentence says where the server and the load generator ran, and says nothing
it does not know: a run without a recorded placement (older runs, synthetic ones) gets no
"placement ?"."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from analysis import aggregate
from analysis.load import load_run
from analysis.report.sections import _ranking_section
from analysis.synthetic import write_synthetic_run
from record.records import Placement


def test_the_ranking_names_the_placement_only_where_it_was_recorded(tmp_path: Path) -> None:
    write_synthetic_run(tmp_path / "run", cells=10, requests=2_000)
    run = load_run(tmp_path / "run")
    ranking = aggregate.ranking(aggregate.build_summary(run.cells, run.cell_requests, "run"))
    assert run.run.placement is None and len(ranking)
    text = _ranking_section(run, ranking, has_open=False).text
    assert "Best valid strategy" in text and "placement" not in text, text
    split = Placement("split", (1,), (0,))
    options = dataclasses.replace(run.run.options, placement=split)
    placed = dataclasses.replace(run, run=dataclasses.replace(run.run, options=options))
    text = _ranking_section(placed, ranking, has_open=False).text
    assert "placement split: server on CPU 1; load generator and backend on CPU 0" in text
