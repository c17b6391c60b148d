"""The database of the /db workload without a driver: the seeded schema, the queries each
strategy runs, and what a right answer is (the server runs them, harness/processes/postgres.py
seeds a throwaway database with the schema, verification and the Locust checks compare
answers against expected_rows)."""

from __future__ import annotations

from typing import Any

QUERIES = ("sleep", "rows", "write")
DB_ROWS = 10_000  # rows in the seeded table: /db?query=rows&n=N reads at most this many
CATEGORIES = 10
# A connection attempt gives up after this long: the servers' own and the harness's, which
# waits for a throwaway database (harness/processes/postgres.py).
CONNECT_TIMEOUT_S = 3

ITEMS, CATS, WRITES = "bench_items", "bench_categories", "bench_writes"
SCHEMA_SQL = f"""
CREATE TABLE IF NOT EXISTS {CATS} (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE IF NOT EXISTS {ITEMS} (
    id int PRIMARY KEY,
    category_id int NOT NULL REFERENCES {CATS} (id),
    name text NOT NULL,
    price_cents int NOT NULL
);
CREATE TABLE IF NOT EXISTS {WRITES} (
    id bigserial PRIMARY KEY,
    note text NOT NULL,
    created timestamptz NOT NULL DEFAULT now()
);
INSERT INTO {CATS} SELECT g, 'category-' || g FROM generate_series(0, {CATEGORIES - 1}) g
    ON CONFLICT DO NOTHING;
INSERT INTO {ITEMS}
    SELECT g, g % {CATEGORIES}, 'item-' || g, (g * 37) % 10000 FROM generate_series(1, {DB_ROWS}) g
    ON CONFLICT DO NOTHING;
ANALYZE {CATS}; ANALYZE {ITEMS};
"""
SLEEP_SQL = "SELECT %s::int FROM pg_sleep(%s)"
ROWS_SQL = (
    f"SELECT i.id, i.name, c.name, i.price_cents FROM {ITEMS} i "
    f"JOIN {CATS} c ON c.id = i.category_id ORDER BY i.id LIMIT %s"
)
WRITE_SQL = f"INSERT INTO {WRITES} (note) VALUES (%s) RETURNING id"


def expected_rows(n: int) -> dict[str, Any]:
    """What /db?query=rows&n=N must answer (the seeded table is known): verification and the
    Locust checks compare against it."""
    return {
        "query": "rows",
        "n": n,
        "id_sum": n * (n + 1) // 2,
        "last": [n, f"item-{n}", f"category-{n % CATEGORIES}", (n * 37) % 10000],
    }
