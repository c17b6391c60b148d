"""Verify before load: every endpoint a scenario uses must answer the right status, content
type and body before a single load request is sent (a fast wrong answer is not a result)."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from catalog.db import expected_rows
from catalog.payloads import (
    STREAM_CONTENT_TYPE,
    cpu_work,
    stream_body,
    upload_digest,
    upload_pieces,
)
from harness import verify_te
from harness.processes.procs import HTTP_TIMEOUT_S, http_get
from harness.verify_live import check_socket


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _check_stream(query: dict[str, Any], content_type: str, body: bytes) -> str | None:
    """/stream?chunks=K&bytes=B&ms=D: K chunks of B bytes, each its own letter, in order."""
    if not content_type.startswith(STREAM_CONTENT_TYPE):
        return f"content type {content_type!r}, expected {STREAM_CONTENT_TYPE}"
    if len(body) != query["chunks"] * query["bytes"]:
        return "body length is not chunks*bytes"
    return None if body == stream_body(query["chunks"], query["bytes"]) else "wrong chunks"


def _check_enqueue(query: dict[str, Any], data: dict[str, Any]) -> str | None:
    """/enqueue?ms=D or ?n=N: an accepted job of that kind and amount (not yet done)."""
    amount, work = ("n", "cpu") if "n" in query else ("ms", "sleep")
    ok = data.get("accepted") is True and data.get("work") == work
    return None if ok and data.get(amount) == query[amount] else "no accepted job in the body"


def _check_body(path: str, content_type: str, body: bytes) -> str | None:
    parts = urlsplit(path)
    query: dict[str, Any] = {
        k: int(v[0]) if v[0].isdigit() else v[0] for k, v in parse_qs(parts.query).items()
    }
    endpoint = parts.path
    if endpoint == "/stream":
        return _check_stream(query, content_type, body)
    if endpoint == "/hello":
        if not content_type.startswith("text/plain"):
            return f"content type {content_type!r}, expected text/plain"
        return None if body == b"Hello, world" else "body is not 'Hello, world'"
    if not content_type.startswith("application/json"):
        return f"content type {content_type!r}, expected application/json"
    data = _json(body)
    if not isinstance(data, dict):
        return "body is not a JSON object"
    if endpoint == "/enqueue":
        return _check_enqueue(query, data)
    if endpoint == "/json":
        return None if data.get("message") == "Hello, World!" else "wrong message"
    if endpoint == "/sleep":
        return None if data.get("slept_ms") == query["ms"] else "slept_ms does not match ms"
    if endpoint == "/cpu":
        return None if data.get("result") == cpu_work(query["n"]) else "wrong /cpu result"
    if endpoint == "/upstream":
        upstream = data.get("upstream")
        ok = isinstance(upstream, dict) and upstream.get("ms") == query["ms"]
        return None if ok else "no backend answer in the body"
    if endpoint == "/fanout":
        ok = data.get("ids") == list(range(query["n"]))
        return None if ok else "ids do not list every upstream call"
    if endpoint == "/db":
        return _check_db(query, data)
    if endpoint == "/poll":
        ok = isinstance(data.get("seq"), int) and isinstance(data.get("sent"), float)
        return None if ok else "no event (seq, sent) in the body"
    return None


def _check_db(query: dict[str, Any], data: dict[str, Any]) -> str | None:
    """The query's own result: the database's echo of the sleep, the seeded rows (their
    count, ids and last row), or the id of the row just inserted."""
    kind = query.get("query")
    if data.get("query") != kind:
        return f"query is {data.get('query')!r}, expected {kind!r}"
    if kind == "sleep":
        return None if data.get("ms") == query["ms"] else "the database's ms does not match ms"
    if kind == "rows":
        want = expected_rows(query["n"])
        wrong = [k for k in ("n", "id_sum", "last") if data.get(k) != want[k]]
        return f"wrong rows ({', '.join(wrong)} differ from the seeded table)" if wrong else None
    new_id = data.get("id")
    ok = isinstance(new_id, int) and not isinstance(new_id, bool) and new_id > 0
    return None if ok else "no id of an inserted row"


# A server that refuses a body on its declared length answers as soon as it has the headers.
REFUSAL_WAIT_S = 2.0


def _post(base_url: str, path: str, total: int, pieces: Any) -> tuple[int, str, bytes]:
    """POST a body of `total` bytes (Content-Length) sent piece by piece; `pieces` None sends
    the headers alone and waits REFUSAL_WAIT_S for an answer (TimeoutError without one)."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=HTTP_TIMEOUT_S)
    try:
        conn.putrequest("POST", path)
        conn.putheader("Content-Length", str(total))
        conn.endheaders()
        for piece in pieces or ():
            conn.send(piece)
        if pieces is None and conn.sock is not None:
            conn.sock.settimeout(REFUSAL_WAIT_S)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read()
    finally:
        conn.close()


def _verify_upload(base_url: str, path: str, strict: bool) -> str | None:
    """/upload?bytes=B&chunk=C (the query is the verifier's): a body of B bytes answered
    with its length and SHA-256, and (a built-in server, strict) one byte more refused with
    413 before it is sent. A user's own server: the status only."""
    query = {k: int(v[0]) for k, v in parse_qs(urlsplit(path).query).items()}
    total, chunk = query["bytes"], query["chunk"]
    status, ctype, body = _post(base_url, "/upload", total, upload_pieces(total, chunk))
    if status != 200 and (strict or not 200 <= status < 300):
        return f"status {status}"
    if not strict:
        return None
    data = _json(body) if ctype.startswith("application/json") else None
    if not isinstance(data, dict) or data.get("bytes") != total:
        return "the answer does not count the bytes sent"
    if data.get("sha256") != upload_digest(total, chunk):
        return "wrong SHA-256"
    try:
        status, _, _ = _post(base_url, "/upload", total + 1, None)
    except TimeoutError:
        return "a body over the limit was not refused on its length (expected 413)"
    return None if status == 413 else f"a body over the limit got {status}, expected 413"


def verify(
    base_url: str, paths: list[str], *, strict: bool = True, db_url: str | None = None
) -> list[str]:
    """Problems found, one short line each (empty when all is well). strict=False (a user's
    own server: a target or an app) checks the status only, and any 2xx is a success there
    (the built-in servers answer exactly 200). TechEmpower's types (/te/...) are checked by
    harness/verify_te.py, against the database at db_url when given."""
    problems = []
    for path in paths:
        if strict and path.startswith("/te/"):
            problem = verify_te.verify_path(base_url, path, db_url)
            if problem:
                problems.append(f"GET {path}: {problem}")
            continue
        if path.startswith("/ws/"):
            problem = check_socket(base_url, path)
            if problem:
                problems.append(f"WebSocket {path}: {problem}")
            continue
        if urlsplit(path).path == "/upload":
            try:
                problem = _verify_upload(base_url, path, strict)
            except OSError as exc:
                problem = f"no answer ({type(exc).__name__})"
            if problem:
                problems.append(f"POST {path}: {problem}")
            continue
        try:
            status, headers, body = http_get(base_url + path, timeout=30)
        except OSError as exc:
            problems.append(f"GET {path}: no answer ({type(exc).__name__})")
            continue
        if status != 200 and (strict or not 200 <= status < 300):
            problems.append(f"GET {path}: status {status}")
            continue
        if strict:
            ctype = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
            problem = _check_body(path, ctype, body)
            if problem:
                problems.append(f"GET {path}: {problem}")
    return problems
