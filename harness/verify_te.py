"""Verify before load, for TechEmpower's test types (/te/...): the checks of TechEmpower's own
verifier (FrameworkBenchmarks toolset/test_types), made strict where it only warned.

- every type: status 200, the Server, Date and Content-Type headers, a Content-Length (or
  Transfer-Encoding), the content type of the type (the verifier's patterns);
- plaintext: the body is exactly ``Hello, World!``; json: exactly ``{"message": "Hello,
  World!"}`` (no other key);
- db: one object ``{"id", "randomNumber"}``, both integers in 1..10000; queries and updates:
  an array of as many as ``queries`` asks after clamping (0, "foo" or missing → 1, 501 → 500);
- with the database's URL: every row answered holds the database's value (db, queries); an
  update is in the database afterwards, and of the rows an update request touched, at least
  90 % changed (the verifier's margin: a new random number may equal the old one);
- fortunes: the page, parsed and normalised as the verifier's FortuneHTMLParser does
  (equivalent escapes count alike, whitespace between tags is ignored), equals the expected
  page: every row plus the one added at request time, sorted by message, escaped, UTF-8.

The verifier's 3-second wait to see a fresh Date header is left out (it would add 3 s to a cell).
"""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

from catalog.techempower import FORTUNES, RANDOM_MAX, WORLD_ROWS, clamp_queries, sorted_fortunes
from harness.processes.procs import http_get

CONTENT_TYPES = {  # TechEmpower's verify_headers patterns
    "json": re.compile(r"^application/json(; ?charset=(UTF|utf)-8)?$"),
    "html": re.compile(r"^text/html; ?charset=(UTF|utf)-8$"),
    "plaintext": re.compile(r"^text/plain(; ?charset=(UTF|utf)-8)?$"),
}
REQUIRED_HEADERS = ("Server", "Date", "Content-Type")
# At least this share of the rows an update request touched must differ afterwards (a new
# random number equals the old one 1 time in 10,000); checked where that many rows make it
# meaningful, as the verifier checks it at queries=500.
UPDATED_SHARE = 0.90
UPDATED_MIN_ROWS = 20
# Character references the verifier treats as the same text as their plain or named form.
_CHARREFS = {34: "&quot;", 39: "&apos;", 43: "+", 62: "&gt;", 60: "&lt;", 47: "/", 40: "(", 41: ")"}
_IGNORED_TAGS = {"meta", "link", "script", "thead", "tbody"}
TYPES = ("plaintext", "json", "db", "queries", "updates", "fortunes")

World = dict[int, int]


class FortunePage(HTMLParser):
    """A fortunes page reduced to the verifier's normal form."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.out: list[str] = []
        self._in_script = False

    def handle_decl(self, decl: str) -> None:
        self.out.append(f"<!{decl.lower()}>")

    def handle_charref(self, name: str) -> None:
        try:
            code = int(name[1:], 16) if name[:1] in "xX" else int(name)
        except ValueError:
            return
        self._text(_CHARREFS.get(code, ""))

    def handle_entityref(self, name: str) -> None:
        self._text("—" if name == "mdash" else f"&{name};")

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "script":
            self._in_script = True
        if tag not in _IGNORED_TAGS:
            self._text(f"<{tag}>" + ("\n" if tag in ("table", "html") else ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False
        elif tag not in _IGNORED_TAGS:
            self._text(f"</{tag}>" + ("\n" if tag in ("tr", "head") else ""))

    def handle_data(self, data: str) -> None:
        if data.strip():
            self._text(data.replace("'", "&apos;").replace('"', "&quot;").replace(">", "&gt;"))

    def _text(self, text: str) -> None:
        if not self._in_script and text:
            self.out.append(text)

    def normal(self) -> str:
        return "".join(self.out)


def expected_fortunes() -> str:
    """The page every right answer normalises to (the verifier's valid_fortune)."""
    rows = "".join(
        f"<tr><td>{i}</td><td>{html.escape(m).replace('&#x27;', '&apos;')}</td></tr>\n"
        for i, m in sorted_fortunes(list(FORTUNES))
    )
    return (
        "<!doctype html><html>\n<head><title>Fortunes</title></head>\n<body><table>\n"
        f"<tr><th>id</th><th>message</th></tr>\n{rows}</table></body></html>"
    )


def normal_fortunes(body: bytes) -> str:
    page = FortunePage()
    page.feed(body.decode("utf-8", errors="replace"))
    page.close()
    return page.normal()


def world_table(db_url: str) -> World:
    """The whole World table now (id → randomNumber)."""
    from harness.processes.postgres import connect

    with connect(db_url) as conn:
        return dict(conn.execute("SELECT id, randomNumber FROM World").fetchall())


def _kind(path: str) -> str:
    return urlsplit(path).path.removeprefix("/te/")


def _queries(path: str) -> int:
    raw = parse_qs(urlsplit(path).query).get("queries")
    return clamp_queries(raw[0] if raw else None)


def _headers(kind: str, headers: dict[str, str]) -> str | None:
    lower = {k.lower(): v for k, v in headers.items()}
    missing = [h for h in REQUIRED_HEADERS if h.lower() not in lower]
    if missing:
        return f"header {missing[0]} missing"
    if "content-length" not in lower and "transfer-encoding" not in lower:
        return "neither Content-Length nor Transfer-Encoding"
    want = {"plaintext": "plaintext", "fortunes": "html"}.get(kind, "json")
    if not CONTENT_TYPES[want].match(lower["content-type"]):
        return f"content type {lower['content-type']!r} does not match {want}'s"
    return None


def _world_object(obj: Any) -> str | None:
    if not isinstance(obj, dict) or set(obj) != {"id", "randomNumber"}:
        return "not an object of exactly id and randomNumber"
    for key, hi in (("id", WORLD_ROWS), ("randomNumber", RANDOM_MAX)):
        value = obj[key]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= hi:
            return f"{key} is not an integer in 1..{hi}"
    return None


def _worlds(data: Any, n: int) -> str | None:
    if not isinstance(data, list):
        return "not a JSON array"
    if len(data) != n:
        return f"{len(data)} rows, expected {n}"
    for obj in data:
        problem = _world_object(obj)
        if problem:
            return f"a row is {problem}"
    return None


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def check_answer(kind: str, path: str, body: bytes) -> str | None:
    """The body's shape and values (without the database)."""
    if kind == "plaintext":
        return None if body == b"Hello, World!" else "body is not 'Hello, World!'"
    if kind == "fortunes":
        got, want = normal_fortunes(body), expected_fortunes()
        if got == want:
            return None
        for line_got, line_want in zip(got.splitlines(), want.splitlines(), strict=False):
            if line_got != line_want:
                return f"fortunes page differs: {line_got[:120]!r}, expected {line_want[:120]!r}"
        return "fortunes page differs in length (a row missing or extra)"
    data = _json(body)
    if kind == "json":
        ok = data == {"message": "Hello, World!"}
        return None if ok else 'body is not {"message": "Hello, World!"}'
    if kind == "db":
        problem = _world_object(data)
        return f"body is {problem}" if problem else None
    return _worlds(data, _queries(path))


def _rows(kind: str, data: Any) -> list[dict[str, int]]:
    return [data] if kind == "db" else list(data)


def check_database(kind: str, data: Any, before: World, after: World) -> str | None:
    """Against the table before and after the request: read rows hold the database's values;
    updates are in the database, and changed what they touched."""
    rows = _rows(kind, data)
    if kind != "updates":
        wrong = [r["id"] for r in rows if before.get(r["id"]) != r["randomNumber"]]
        return f"randomNumber of id {wrong[0]} is not the database's" if wrong else None
    last = {r["id"]: r["randomNumber"] for r in rows}  # a repeated id: its last write holds
    missing = [i for i, number in last.items() if after.get(i) != number]
    if missing:
        return f"update of id {missing[0]} is not in the database afterwards"
    changed = sum(1 for i in last if before.get(i) != after.get(i))
    if len(last) >= UPDATED_MIN_ROWS and changed < UPDATED_SHARE * len(last):
        return f"only {changed} of {len(last)} updated rows changed in the database"
    return None


def verify_path(base_url: str, path: str, db_url: str | None) -> str | None:
    """One /te/ path: the problem found (one short line), or None."""
    kind = _kind(path)
    if kind not in TYPES:
        return f"unknown TechEmpower type {kind!r}"
    needs_db = db_url is not None and kind in ("db", "queries", "updates")
    before = world_table(db_url) if needs_db and db_url else {}
    try:
        status, headers, body = http_get(base_url + path, timeout=30)
    except OSError as exc:
        return f"no answer ({type(exc).__name__})"
    if status != 200:
        return f"status {status}"
    problem = _headers(kind, headers) or check_answer(kind, path, body)
    if problem or not needs_db or not db_url:
        return problem
    return check_database(kind, json.loads(body), before, world_table(db_url))


def clamp_cases(path: str) -> list[str]:
    """The verifier's cases for ?queries: 2, 0, foo, 501 and none, beside the load's own."""
    base = urlsplit(path).path
    return [path, *(f"{base}?queries={q}" for q in ("2", "0", "foo", "501", "")), base]
