"""TechEmpower's six test types on every variant, served in this process against a real
(throwaway) PostgreSQL: each answer passes the verification TechEmpower's verifier makes
(clamping of ?queries, fortunes sorted, escaped, the added row present, updates in the
database afterwards); and the verification itself catches wrong answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from catalog import techempower
from catalog.server_config import ServerConfig
from catalog.strategies import VARIANT_NAMES
from catalog.workloads import WORKLOADS
from harness import verify_te
from harness.processes import postgres
from harness.processes.procs import http_get
from harness.verify import verify
from servers.dbqueries import AsyncPool
from servers.registry import make_app
from tests.servers.inprocess import ServerThread

pytestmark = pytest.mark.skipif(
    postgres.missing_reason() is not None, reason=postgres.missing_reason() or ""
)

TYPES = ("te-plaintext", "te-json", "te-db", "te-queries", "te-updates", "te-fortunes")


@pytest.fixture(scope="module")
def database() -> Iterator[postgres.Database]:
    db = postgres.start_throwaway()
    try:
        yield db
    finally:
        db.stop()
    assert not db.folder.exists()


class VariantThread(ServerThread):
    """A variant's application with its database connections, served from a thread of its
    own (a blocking handler cannot block the test); its connections closed on exit."""

    def __init__(self, variant: str, db_url: str) -> None:
        self.config = ServerConfig(variant=variant, db_url=db_url, db_pool=3, threads=3)
        self.app: Any = None
        super().__init__(self._build)

    def _build(self) -> Any:
        self.app = make_app(self.config)
        return self.app

    async def _serve(self) -> None:
        try:
            await super()._serve()
        finally:
            db = self.app.settings["db"] if self.app is not None else None
            if isinstance(db, AsyncPool):
                await db.aclose()
            elif db is not None:
                db.close()
            executor = self.app.settings.get("executor") if self.app is not None else None
            if executor is not None:
                executor.shutdown(wait=True)


@pytest.fixture(params=VARIANT_NAMES)
def served(request: pytest.FixtureRequest, database: postgres.Database) -> Iterator[str]:
    with VariantThread(request.param, database.url) as srv:
        yield srv.base


def get(base: str, path: str) -> tuple[int, dict[str, str], bytes]:
    return http_get(base + path, timeout=30)


def test_every_type_passes_verification(served: str, database: postgres.Database) -> None:
    paths = [
        p
        for name in TYPES
        for p in WORKLOADS[name].paths(WORKLOADS[name].resolve({"queries": 20} if "queries"
                                                              in WORKLOADS[name].params else {}))
    ]  # fmt: skip
    assert "/te/queries?queries=501" in paths and "/te/updates?queries=foo" in paths
    assert verify(served, paths, db_url=database.url) == []


@pytest.mark.parametrize("kind", ["queries", "updates"])
def test_queries_are_clamped(served: str, kind: str) -> None:
    cases = {"0": 1, "1": 1, "2": 2, "501": 500, "foo": 1, "": 1, None: 1, "-3": 1, "500": 500}
    for raw, rows in cases.items():
        path = f"/te/{kind}" if raw is None else f"/te/{kind}?queries={raw}"
        status, headers, body = get(served, path)
        assert status == 200, (path, body)
        assert headers["Content-Type"] == "application/json"
        data = json.loads(body)
        assert isinstance(data, list) and len(data) == rows, (path, len(data))
        assert all(set(w) == {"id", "randomNumber"} for w in data)
        assert all(1 <= w["id"] <= 10_000 and 1 <= w["randomNumber"] <= 10_000 for w in data)


def test_fortunes_sorted_escaped_with_the_added_row(served: str) -> None:
    status, headers, body = get(served, "/te/fortunes")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=UTF-8"
    text = body.decode("utf-8")
    assert "<script>" not in text
    assert "&lt;script&gt;alert(&quot;This should not be displayed" in text
    assert "<td>0</td><td>Additional fortune added at request time.</td>" in text
    assert "<td>12</td><td>フレームワークのベンチマーク</td>" in text
    ids = [int(cell.split("</td>")[0]) for cell in text.split("<tr><td>")[1:]]
    by_id = dict(techempower.FORTUNES) | {0: techempower.ADDED_FORTUNE[1]}
    assert len(ids) == 13 and sorted(ids) == list(range(13))
    messages = [by_id[i] for i in ids]
    assert messages == sorted(messages)
    assert verify_te.normal_fortunes(body) == verify_te.expected_fortunes()


def test_updates_are_in_the_database_afterwards(served: str, database: postgres.Database) -> None:
    before = verify_te.world_table(database.url)
    status, _, body = get(served, "/te/updates?queries=100")
    assert status == 200
    answered = {w["id"]: w["randomNumber"] for w in json.loads(body)}
    after = verify_te.world_table(database.url)
    assert all(after[i] == number for i, number in answered.items())
    changed = sum(1 for i in answered if before[i] != after[i])
    assert changed >= 0.9 * len(answered)
    # Rows no answer names are left alone.
    assert all(before[i] == after[i] for i in before if i not in answered)


def test_db_and_queries_answer_the_databases_rows(served: str, database: postgres.Database) -> None:
    table = verify_te.world_table(database.url)
    _, _, one = get(served, "/te/db")
    _, _, many = get(served, "/te/queries?queries=30")
    rows = [json.loads(one), *json.loads(many)]
    assert len(rows) == 31
    assert all(table[w["id"]] == w["randomNumber"] for w in rows)
    assert len({w["id"] for w in rows}) > 20  # random ids, not one row over and over


def test_plaintext_and_json_bodies(served: str) -> None:
    status, headers, body = get(served, "/te/plaintext")
    assert (status, headers["Content-Type"], body) == (200, "text/plain", b"Hello, World!")
    assert "Date" in headers and "Server" in headers and headers["Content-Length"] == "13"
    status, headers, body = get(served, "/te/json")
    assert (status, headers["Content-Type"]) == (200, "application/json")
    assert json.loads(body) == {"message": "Hello, World!"}
    # Today's endpoints keep their own bodies.
    assert get(served, "/hello")[2] == b"Hello, world"
    assert json.loads(get(served, "/json")[2])["numbers"] == list(range(10))


# --- the verification itself fails wrong answers --------------------------------------------

PAGE = verify_te.expected_fortunes()


@pytest.mark.parametrize(
    ("page", "why"),
    [
        (PAGE.replace("&lt;script&gt;", "<script>").replace("&lt;/script&gt;", "</script>"),
         "not escaped"),
        (PAGE.replace("<tr><td>0</td><td>Additional fortune added at request time.</td></tr>\n",
                      ""), "added row missing"),
        (PAGE.replace("<tr><td>4</td>", "<tr><td>X</td>", 1)
         .replace("<tr><td>5</td>", "<tr><td>4</td>", 1)
         .replace("<tr><td>X</td>", "<tr><td>5</td>", 1), "ids swapped"),
        ("\n".join([*PAGE.splitlines()[:4], PAGE.splitlines()[5], PAGE.splitlines()[4],
                    *PAGE.splitlines()[6:]]), "unsorted"),
        (PAGE.replace("フレームワークのベンチマーク", "????????"), "not UTF-8 text"),
    ],
)  # fmt: skip
def test_fortunes_verification_fails_wrong_pages(page: str, why: str) -> None:
    assert verify_te.check_answer("fortunes", "/te/fortunes", page.encode()) is not None, why


def test_fortunes_verification_accepts_equivalent_escapes() -> None:
    page = (
        PAGE.replace("&apos;", "&#39;")
        .replace("&quot;", "&#x22;")
        .replace("<!doctype", "<!DOCTYPE")
    )
    assert verify_te.check_answer("fortunes", "/te/fortunes", page.encode()) is None


def test_query_verification_fails_wrong_counts_and_shapes() -> None:
    row = {"id": 5, "randomNumber": 7}
    good = json.dumps([row]).encode()
    assert verify_te.check_answer("queries", "/te/queries?queries=0", good) is None
    assert verify_te.check_answer("queries", "/te/queries?queries=foo", good) is None
    assert verify_te.check_answer("queries", "/te/queries?queries=2", good) == "1 rows, expected 2"
    assert "expected 500" in str(
        verify_te.check_answer(
            "updates", "/te/updates?queries=501", json.dumps([row] * 501).encode()
        )
    )
    assert verify_te.check_answer("db", "/te/db", good) is not None  # an array, not an object
    for bad in ({"id": 0, "randomNumber": 1}, {"id": 1}, {"id": 1, "randomNumber": 1, "x": 1}):
        assert verify_te.check_answer("db", "/te/db", json.dumps(bad).encode()) is not None
    assert verify_te.check_answer("json", "/te/json", b'{"message": "Hello, world"}')
    assert verify_te.check_answer("plaintext", "/te/plaintext", b"Hello, World!\n")


def test_update_verification_fails_unwritten_or_unchanged_rows() -> None:
    before = {i: 1 for i in range(1, 101)}
    answer = [{"id": i, "randomNumber": 2} for i in range(1, 51)]
    written = before | {i: 2 for i in range(1, 51)}
    assert verify_te.check_database("updates", answer, before, written) is None
    assert "not in the database" in str(verify_te.check_database("updates", answer, before, before))
    unchanged = [{"id": i, "randomNumber": 1} for i in range(1, 51)]
    assert "changed" in str(verify_te.check_database("updates", unchanged, before, before))
    stale = [{"id": 3, "randomNumber": 9}]
    assert "not the database's" in str(verify_te.check_database("queries", stale, before, before))
