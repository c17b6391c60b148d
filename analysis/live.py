"""The verdict on each cell as a run goes, for the harness's progress line: the same summary
and the same validity rule as the report (analysis/validity.py), applied to the cells finished
so far. Each cell's requests are read once, when it finishes; earlier cells are kept as their
one-row statistics, so judging the n-th cell costs one cell's data, not the run's.

The bound of a CPU scenario is measured by the suite itself (utilization law, the smallest
demand any cell showed), so a later cell can still tighten it: the report, built from every
cell, is the final word, and the live line is that rule on the evidence so far."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from analysis import aggregate, validity
from analysis.load import cell_requests, cell_row, cell_slots
from record.calibration import Calibration
from record.errors import UserError
from record.layout import CellLayout
from record.records import UNMEASURED_STATUSES, CellRecord, RunRecord
from record.verdict import Verdict


class LiveJudge:
    def __init__(self) -> None:
        self._rows: list[pd.DataFrame] = []
        self._calibration: dict[Path, Calibration] = {}

    def _calibration_of(self, run_dir: Path) -> Calibration:
        """The run's generator calibration (run.json), read once per run; none measured
        without one."""
        if run_dir not in self._calibration:
            try:
                self._calibration[run_dir] = RunRecord.read(run_dir).calibration
            except UserError:
                self._calibration[run_dir] = Calibration()
        return self._calibration[run_dir]

    def __call__(self, record: CellRecord, cell_dir: Path) -> Verdict:
        """A status word (ok, invalid, failed, interrupted), one line about the cell, and its
        req/s if it is valid (NaN otherwise: an invalid cell is no evidence)."""
        cells = pd.DataFrame(
            [cell_row(record, self._calibration_of(CellLayout(cell_dir).run.root))]
        )
        self._rows = [r for r in self._rows if r["cell_id"].iloc[0] != record.cell_id]
        self._rows.append(
            aggregate.with_request_stats(
                cells,
                lambda _cell_id, columns: cell_requests(record, cell_dir, columns),
                lambda _cell_id: cell_slots(cell_dir),
            )
        )
        summary = self.summary()
        mine = summary[summary["cell_id"] == record.cell_id].tail(1)
        row = mine.iloc[0]
        if row["status"] in UNMEASURED_STATUSES:
            return Verdict(str(row["status"]), record.reason, math.nan)
        if pd.notna(row.get("offered_rps")):
            line = (
                f"{_num(row['rps'], 9, 1)} of {row['offered_rps']:g} req/s  "
                f"p99 {_num(row['p99_ms'], 8, 1)} ms, corrected {_num(row['p99_corrected_ms'], 8, 1)} ms"
            )
        else:
            line = f"{_num(row['rps'], 9, 1)} req/s  p95 {_num(row['p95_ms'], 8, 1)} ms"
        if row["notes"]:
            line += f"  [{row['notes']}]"
        rps = float(row["rps"]) if row["valid"] else math.nan
        beside, _ = validity.row_problems(next(mine.itertuples(index=False)), count_generator=False)
        return Verdict(str(row["status"]), line, rps, math.nan if beside else float(row["rps"]))

    def summary(self) -> pd.DataFrame:
        """The judged summary of the cells finished so far (what abort_on_fail looks at)."""
        if not self._rows:
            return pd.DataFrame()
        return aggregate.judged(pd.concat(self._rows, ignore_index=True), "")


def _num(value: float, width: int, digits: int) -> str:
    return f"{value:{width},.{digits}f}" if math.isfinite(value) else f"{'–':>{width}}"
