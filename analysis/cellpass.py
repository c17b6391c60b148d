"""One read of each cell's request rows for everything the report takes from them: the cell's
row of statistics (cellstats.request_stats), its rows of endpoints.csv (endpoints.py) and its
latency.hlog (hlog.py). Each of the three used to read every cell's rows again; on a run of
20 million requests reading and ranking the rows was most of the report's time.

The cells are shared out between forked worker processes (two cores: half the cells each),
each of which reads one cell at a time and lets its rows go before the next, so memory still
follows the largest cell. What comes back per cell is a few numbers and a few rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis import endpoints, hlog
from analysis.cellstats import REQUEST_STATS, STAT_COLUMNS, request_stats
from analysis.forked import Shared
from analysis.load import RunData, headline_rows
from record.records import CellRecord

# Every request column the three read: the statistics', the endpoints' (endpoint and
# request_type also choose a cell's headline records).
COLUMNS = tuple(dict.fromkeys([*STAT_COLUMNS, *endpoints.READ]))
# hlogs are not written for these: an interrupted cell's window was never completed, a failed
# one never had a window of requests.
NO_HLOG = ("failed", "interrupted")


@dataclass(frozen=True)
class CellPass:
    """What the report takes from one measured cell's request rows."""

    cell_id: str
    stats: tuple[Any, ...]  # its row of cellstats.REQUEST_STATS, in that order
    endpoints: list[endpoints.EndpointRow]  # its rows of endpoints.csv

    def __post_init__(self) -> None:
        if len(self.stats) != len(REQUEST_STATS) or self.stats[0] != self.cell_id:
            raise ValueError(f"{self.cell_id}: a row of statistics must follow REQUEST_STATS")


def pass_cell(run: RunData, record: CellRecord) -> CellPass:
    """Read one measured cell's window rows once (every record, endpoint names as categories):
    its endpoints from all of them, its statistics and latency.hlog from its headline records
    (all of them unless its scenario names some), as load.cell_requests chooses them."""
    assert record.window is not None, "only a measured cell has rows to read"
    cell_id = record.cell_id
    rows = run.every_request(cell_id, COLUMNS)
    headline = record.settings.headline
    chosen = rows[headline_rows(rows, headline)] if headline and len(rows) else rows
    slots = run.cell_slots(cell_id)
    stats = request_stats(cell_id, record.window, chosen, slots)
    if record.status not in NO_HLOG:
        window = (record.window.start, record.window.end)
        hlog.write_cell_hlog(run.cell_dir(cell_id), window, chosen, slots)
    return CellPass(
        cell_id,
        tuple(stats[column] for column in REQUEST_STATS),
        endpoints.cell_endpoints(run.run_id, record, rows),
    )


@dataclass(frozen=True)
class Passes:
    """Every measured cell's pass, in the run's order."""

    cells: list[CellPass]

    def stats(self) -> pd.DataFrame:
        """One row of REQUEST_STATS per measured cell (aggregate.summary_of)."""
        return pd.DataFrame([c.stats for c in self.cells], columns=REQUEST_STATS)

    def endpoint_table(self) -> pd.DataFrame:
        """endpoints.csv: every measured cell's endpoints, in the run's order."""
        return endpoints.joined([c.endpoints for c in self.cells])


def measured(run: RunData) -> list[CellRecord]:
    """The records of the cells with a window, in the run's order."""
    ids = run.cells["cell_id"] if len(run.cells) else ()
    records = [run.records.get(str(cell_id)) for cell_id in ids]
    return [r for r in records if r is not None and r.window is not None]


def start(run: RunData, workers: int = 2) -> Shared[CellPass]:
    """pass_cell for every measured cell, begun now in `workers` forked processes (in this
    one with fewer than two cores or two cells); Passes(its results()) once they are in."""
    records = measured(run)
    return Shared(lambda record: pass_cell(run, record), records, workers)


def pass_cells(run: RunData, workers: int = 2) -> Passes:
    """pass_cell for every measured cell, in the run's order (start, then waited for)."""
    with start(run, workers) as passing:
        return Passes(passing.results())
