"""TechEmpower's test types without Tornado: their schema and data, the rule for `queries` and
what a right answer holds (servers/dbqueries.py does each type's work on one connection,
servers/techempower.py serves them in each strategy's style; harness/verify_te.py checks the
answers; harness/processes/postgres.py seeds the tables).

As TechEmpower's FrameworkBenchmarks specifies them (toolset/test_types and
toolset/databases/postgres/create-postgres.sql): a `World` table of 10,000 rows with a random
`randomNumber` in 1..10000, a `Fortune` table of 12 fixed rows (one a <script> that must arrive
escaped, one Japanese that must arrive as UTF-8)."""

from __future__ import annotations

import random
from typing import Any

WORLD_ROWS = 10_000  # TechEmpower's World table: ids 1..10000
RANDOM_MAX = 10_000  # randomNumber is in 1..RANDOM_MAX
QUERIES_MIN, QUERIES_MAX = 1, 500  # ?queries=N is clamped to this range
ADDED_FORTUNE = (0, "Additional fortune added at request time.")
FORTUNES = (
    (1, "fortune: No such file or directory"),
    (2, "A computer scientist is someone who fixes things that aren't broken."),
    (3, "After enough decimal places, nobody gives a damn."),
    (4, "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1"),
    (5, "A computer program does what you tell it to do, not what you want it to do."),
    (6, "Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen"),
    (7, "Any program that runs right is obsolete."),
    (8, "A list is only as strong as its weakest link. — Donald Knuth"),
    (9, "Feature: A bug with seniority."),
    (10, "Computers make very fast, very accurate mistakes."),
    (11, '<script>alert("This should not be displayed in a browser alert box.");</script>'),
    (12, "フレームワークのベンチマーク"),
)
# The types that read the database, and the server's name for each (its route /te/<kind>).
DB_KINDS = ("db", "queries", "updates", "fortunes")


def _sql_text(text: str) -> str:
    """A string literal for the seed SQL (the rows are ours: only quotes need doubling)."""
    return "'" + text.replace("'", "''") + "'"


# Unquoted names, as TechEmpower's own Tornado entry queries them (PostgreSQL folds them to
# world and fortune). Created beside the db scenarios' bench_* tables, filled only when empty.
SCHEMA_SQL = f"""
CREATE TABLE IF NOT EXISTS World (
    id integer NOT NULL PRIMARY KEY,
    randomNumber integer NOT NULL DEFAULT 0
);
INSERT INTO World (id, randomNumber)
    SELECT g, least(floor(random() * {RANDOM_MAX} + 1), {RANDOM_MAX})
    FROM generate_series(1, {WORLD_ROWS}) g
    ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS Fortune (
    id integer NOT NULL PRIMARY KEY,
    message varchar(2048) NOT NULL
);
INSERT INTO Fortune (id, message) VALUES
    {", ".join(f"({i}, {_sql_text(m)})" for i, m in FORTUNES)}
    ON CONFLICT DO NOTHING;
ANALYZE World; ANALYZE Fortune;
"""
WORLD_SQL = "SELECT id, randomNumber FROM World WHERE id = %s"
UPDATE_SQL = "UPDATE World SET randomNumber = %s WHERE id = %s"
FORTUNE_SQL = "SELECT id, message FROM Fortune"


def clamp_queries(raw: str | None) -> int:
    """TechEmpower's rule for ?queries=N: missing, not an integer or below 1 counts as 1,
    above 500 as 500 (never an error)."""
    try:
        n = int(raw) if raw is not None else QUERIES_MIN
    except ValueError:
        return QUERIES_MIN
    return min(max(n, QUERIES_MIN), QUERIES_MAX)


def random_id() -> int:
    """A World id, uniformly: TechEmpower's rows are read at random, never cached."""
    return random.randint(1, WORLD_ROWS)


def random_number() -> int:
    """An update's new randomNumber, in TechEmpower's range."""
    return random.randint(1, RANDOM_MAX)


def world(row: Any) -> dict[str, int]:
    """A (id, randomNumber) row as TechEmpower's JSON object."""
    return {"id": row[0], "randomNumber": row[1]}


def sorted_fortunes(rows: list[Any]) -> list[tuple[int, str]]:
    """Every row plus the one added at request time, sorted by message (code point order,
    as TechEmpower's expected page is)."""
    fortunes = [(int(r[0]), str(r[1])) for r in rows]
    fortunes.append(ADDED_FORTUNE)
    fortunes.sort(key=lambda f: f[1])
    return fortunes
