"""TechEmpower's types through real runs: a short run of the database types on a blocking and
an awaiting strategy, whose updates land in the database; and a database whose Fortune rows
differ from TechEmpower's fails the fortunes cell at verification, before any load."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from harness import verify_te
from harness.processes import postgres
from harness.runner import run_suite
from harness.suite.parse import parse_suite
from record.records import CellRecord

pytestmark = pytest.mark.skipif(
    postgres.missing_reason() is not None, reason=postgres.missing_reason() or ""
)


def suite_of(tmp_path: Path, variants: list[str], scenarios: list[dict]) -> object:
    data = {
        "name": "te-test",
        "duration_s": 1.5,
        "warmup_s": 0.5,
        "variants": variants,
        "users": [4],
        "scenarios": scenarios,
    }
    return parse_suite(data, str(tmp_path / "te-test.toml"))


def test_short_runs_update_the_database_and_a_wrong_fortune_fails(tmp_path: Path) -> None:
    db = postgres.start_throwaway()
    try:
        url = postgres.check_db_url(db.url)
        before = verify_te.world_table(url)
        suite = suite_of(
            tmp_path,
            ["sync", "coroutine"],
            [{"name": "te-updates", "params": {"queries": 5}}, {"name": "te-fortunes"}],
        )
        run_dir = tmp_path / "run"
        outcome = run_suite(suite, run_dir, quiet=True, db_url=url)  # type: ignore[arg-type]
        assert outcome.counts["ok"] == 4, outcome.counts
        updated = 0
        for variant in ("sync", "coroutine"):
            cell_id = f"{variant}-asyncio-te-updates-pool10-queries5-u4-r1"
            reqs = pd.read_parquet(run_dir / "cells" / cell_id / "requests.parquet")
            assert len(reqs) > 10 and reqs["ok"].all()
            assert set(reqs["endpoint"]) == {"/te/updates"}
            updated += len(reqs) * 5
        after = verify_te.world_table(url)
        changed = sum(1 for i in before if before[i] != after[i])
        # Every request wrote 5 random rows of 10,000: many rows differ now.
        assert changed > min(updated, 10_000) * 0.3, (changed, updated)

        with postgres.connect(url) as conn:
            conn.execute("UPDATE Fortune SET message = 'changed' WHERE id = 3")
        bad = suite_of(tmp_path, ["coroutine"], [{"name": "te-fortunes"}])
        outcome = run_suite(bad, tmp_path / "bad", quiet=True, db_url=url)  # type: ignore[arg-type]
        record = CellRecord.read(
            tmp_path / "bad" / "cells" / "coroutine-asyncio-te-fortunes-pool10-u4-r1"
        )
        assert outcome.counts["failed"] == 1
        assert record.status == "failed"
        assert "verification failed: GET /te/fortunes: fortunes page differs" in record.reason
        assert not (tmp_path / "bad" / "cells" / record.cell.cell_id / "requests.parquet").exists()
    finally:
        db.stop()
