"""Hostile raw HTTP against every variant: malformed request lines, oversized and countless
headers, lying Content-Lengths, broken chunked bodies, pipelined garbage, non-UTF-8 bytes,
every method on every endpoint, and out-of-range parameters.

The promise (README, "Server variants": "a bad or out-of-range value is a 400 with a short message, never a
500 and never an unbounded wait"): the server survives everything, never answers 5xx other
than 502/504, refuses bad parameters with a quick 400, and still answers /health afterwards.
A dropped connection is a fine answer to malformed input.

`hostile_attack` is a plain function returning figures; tests/reliability/figures.py reuses it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import psutil
import pytest

from catalog.limits import CPU_N_MAX, FANOUT_N_MAX, MS_MAX
from catalog.strategies import VARIANT_NAMES, forks
from tests.conftest import Server, start_server
from tests.reliability.rawhttp import Exchange, exchange, get_status, request

pytestmark = pytest.mark.reliability

MIN_REQUESTS = 300
REFUSAL_LIMIT_S = 1.0
ROUNDS = 2  # the whole battery twice: the second round runs against whatever the first left
ALLOWED_5XX = (502, 504)
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW")
# Every endpoint with valid parameters (short waits: the battery stays fast on sync).
ENDPOINTS = (
    "/health",
    "/hello",
    "/json",
    "/sleep?ms=1",
    "/cpu?n=10",
    "/upstream?ms=1",
    "/fanout?n=2&ms=1",
)

MALFORMED = "malformed"  # any answer or a drop is fine; never a 5xx other than 502/504
VALID = "valid"  # a well-formed request: it must get an answer
REFUSAL = "refusal"  # a bad parameter: a 400 within REFUSAL_LIMIT_S


@dataclass(frozen=True)
class Case:
    family: str
    name: str
    payload: bytes | list[bytes]
    kind: str = MALFORMED
    half_close: bool = False  # the request is incomplete: EOF instead of waiting for a timeout
    requests: int = 1  # requests this case sends (pipelined cases send several)
    expect: int | None = None  # responses to wait for before closing (None: until close)


@dataclass
class Outcome:
    case: Case
    exchange: Exchange


@dataclass
class HostileFigures:
    variant: str
    requests: int = 0
    crashes: int = 0
    other_5xx: int = 0
    longest_refusal_ms: float = 0.0
    dropped: int = 0
    timed_out: int = 0
    health_after: int | None = None
    outcomes: list[Outcome] = field(default_factory=list)

    def bad_5xx(self) -> list[str]:
        return [
            f"{o.case.family}/{o.case.name}: {o.exchange.statuses}"
            for o in self.outcomes
            if any(s >= 500 and s not in ALLOWED_5XX for s in o.exchange.statuses)
        ]

    def bad_refusals(self) -> list[str]:
        return [
            f"{o.case.name}: {o.exchange.statuses} in {o.exchange.seconds * 1000:.0f} ms"
            for o in self.outcomes
            if o.case.kind == REFUSAL
            and (o.exchange.first != 400 or o.exchange.seconds >= REFUSAL_LIMIT_S)
        ]

    def unanswered_valid(self) -> list[str]:
        return [
            f"{o.case.family}/{o.case.name}: dropped={o.exchange.dropped} "
            f"timed_out={o.exchange.timed_out}"
            for o in self.outcomes
            if o.case.kind == VALID and o.exchange.first is None
        ]


# -- the cases ----------------------------------------------------------------------------


def _get(target: str | bytes, headers: list[tuple[str, str]] | None = None) -> bytes:
    return request("GET", target, headers=headers)


def malformed_request_lines() -> list[Case]:
    lines = {
        "empty-lines": b"\r\n\r\n\r\n",
        "method-only": b"GET\r\n\r\n",
        "http09": b"GET /hello\r\n\r\n",
        "version-9.9": b"GET /hello HTTP/9.9\r\n\r\n",
        "version-garbage": b"GET /hello FOO/1.1\r\n\r\n",
        "version-lower": b"GET /hello http/1.1\r\n\r\n",
        "spaced-method": b"G E T /hello HTTP/1.1\r\n\r\n",
        "double-spaces": b"GET  /hello  HTTP/1.1\r\n\r\n",
        "extra-token": b"GET /hello HTTP/1.1 extra\r\n\r\n",
        "control-bytes": b"\x00\x01\x02 /hello HTTP/1.1\r\n\r\n",
        "nul-in-path": b"GET /hel\x00lo HTTP/1.1\r\nHost: x\r\n\r\n",
        "absolute-uri": b"GET http://127.0.0.1/hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "asterisk": b"GET * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "no-leading-slash": b"GET hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "bare-lf": b"GET /hello HTTP/1.1\nHost: x\nConnection: close\n\n",
        "header-no-colon": b"GET /hello HTTP/1.1\r\nHost\r\n\r\n",
        "header-empty-name": b"GET /hello HTTP/1.1\r\n: value\r\n\r\n",
        "space-before-colon": b"GET /hello HTTP/1.1\r\nHost : x\r\n\r\n",
        "leading-fold": b"GET /hello HTTP/1.1\r\n folded\r\nHost: x\r\n\r\n",
        "connect": b"CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
        "bad-percent": b"GET /%%%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "bad-percent-query": b"GET /hello?%zz=%% HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "long-request-line": b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\n\r\n",
        "huge-request-line": b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
        "tls-client-hello": bytes.fromhex("16030100a5010000a10303")
        + bytes(range(32))
        + b"\r\n\r\n",
        "http2-preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "lowercase-method": b"get /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "only-junk": bytes(range(256)) * 4,
    }
    cases = [Case("request-line", name, raw, half_close=True) for name, raw in lines.items()]
    # Truncated mid-line and mid-headers: the server sees EOF (half close), never waits.
    cases.append(Case("request-line", "truncated-line", b"GET /hel", half_close=True))
    cases.append(
        Case("request-line", "truncated-headers", b"GET /hello HTTP/1.1\r\nHo", half_close=True)
    )
    return cases


def header_attacks() -> list[Case]:
    big = "v" * 70_000
    many = [(f"X-H{i}", "v") for i in range(3000)]
    under_limit = [(f"X{i}", "") for i in range(1000)]  # ~6 KB: under the 16 KB header limit
    return [
        Case("headers", "70KB-header", _get("/hello", [("X-Big", big)]), half_close=True),
        Case("headers", "70KB-cookie", _get("/hello", [("Cookie", "a=" + big)]), half_close=True),
        Case("headers", "3000-headers", _get("/hello", many), half_close=True),
        Case("headers", "1000-empty-headers", _get("/hello", under_limit)),
        Case(
            "headers", "5000-same-header", _get("/hello", [("X-Dup", "1")] * 5000), half_close=True
        ),
        Case("headers", "duplicate-host", _get("/hello", [("Host", "a"), ("Host", "b")])),
        Case("headers", "header-nul", _get("/hello", [("X-A", "a\x00b")])),
        Case("headers", "header-high-bytes", _get("/hello", [("X-A", "\xff\xfe\x80")])),
        Case("headers", "host-bracket", _get("/hello", [("Host", "[")])),
        Case("headers", "host-many-colons", _get("/hello", [("Host", "a:b:c:99999")])),
        Case("headers", "host-huge-port", _get("/hello", [("Host", "127.0.0.1:" + "9" * 100)])),
        Case("headers", "if-none-match-star", _get("/json", [("If-None-Match", "*")])),
        Case("headers", "if-none-match-junk", _get("/json", [("If-None-Match", '"' * 500)])),
        Case(
            "headers",
            "expect-100-continue",
            request("POST", "/hello", headers=[("Expect", "100-continue")], body=b"hello"),
        ),
        Case(
            "headers",
            "multipart-garbage",
            request(
                "POST",
                "/hello",
                headers=[("Content-Type", "multipart/form-data; boundary=xx")],
                body=b"--xx\r\nContent-Disposition: nonsense\r\n\r\n\xff\xfe\r\n--xx",
            ),
        ),
        Case(
            "headers",
            "multipart-no-boundary",
            request(
                "POST",
                "/hello",
                headers=[("Content-Type", "multipart/form-data")],
                body=b"--\r\n\r\n",
            ),
        ),
        Case(
            "headers",
            "urlencoded-non-utf8",
            request(
                "PUT",
                "/sleep?ms=1",
                headers=[("Content-Type", "application/x-www-form-urlencoded")],
                body=b"ms=%ff&\xff\xfe=1",
            ),
        ),
        # Headers sent in 200 tiny pieces: the parser must cope with any split.
        Case(
            "headers",
            "split-in-pieces",
            [bytes([b]) for b in _get("/hello", [("X-A", "b")])[:200]]
            + [_get("/hello", [("X-A", "b")])[200:]],
        ),
    ]


def content_length_attacks() -> list[Case]:
    cases = []
    values = {
        "non-numeric": ["abc"],
        "negative": ["-1"],
        "plus-sign": ["+5"],
        "exponent": ["1e3"],
        "hex": ["0x10"],
        "empty": [""],
        "space-inside": ["1 0"],
        "huge": ["99999999999999999999999999"],
        "above-max-body": [str(10**9)],
        "duplicate-unequal": ["5", "6"],
        "duplicate-equal": ["5", "5"],
        "list-in-one": ["5, 5"],
        "too-short": ["2"],  # 5 bytes of body follow: the rest is pipelined junk
        "too-long": ["50"],  # 5 bytes of body follow, then EOF
    }
    for method in ("GET", "POST"):
        for name, cls in values.items():
            headers = [("Content-Length", v) for v in cls]
            payload = request(method, "/hello", headers=headers, body=b"hello")
            cases.append(Case("content-length", f"{method}-{name}", payload, half_close=True))
    cases.append(
        Case(
            "content-length",
            "cl-and-chunked",
            request(
                "POST",
                "/hello",
                headers=[("Content-Length", "5"), ("Transfer-Encoding", "chunked")],
                body=b"5\r\nhello\r\n0\r\n\r\n",
            ),
            half_close=True,
        )
    )
    return cases


def chunked_attacks() -> list[Case]:
    te = [("Transfer-Encoding", "chunked")]
    bodies = {
        "size-not-hex": b"zz\r\nhello\r\n0\r\n\r\n",
        "size-negative": b"-5\r\nhello\r\n0\r\n\r\n",
        "size-huge": b"FFFFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n",
        "size-above-max-body": b"FFFFFFF\r\nhello\r\n0\r\n\r\n",
        "size-empty": b"\r\nhello\r\n0\r\n\r\n",
        "size-with-space": b"5 \r\nhello\r\n0\r\n\r\n",
        "size-0x": b"0x5\r\nhello\r\n0\r\n\r\n",
        "data-longer-than-size": b"2\r\nhello\r\n0\r\n\r\n",
        "data-shorter-than-size": b"9\r\nhello\r\n0\r\n\r\n",
        "no-crlf-after-data": b"5\r\nhelloXX0\r\n\r\n",
        "no-last-chunk": b"5\r\nhello\r\n",
        "extension": b"5;name=value\r\nhello\r\n0\r\n\r\n",
        "trailer": b"5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n",
        "many-1-byte-chunks": b"".join(b"1\r\na\r\n" for _ in range(2000)) + b"0\r\n\r\n",
    }
    cases = [
        Case("chunked", name, request("POST", "/hello", headers=te, body=body), half_close=True)
        for name, body in bodies.items()
    ]
    for name, value in {
        "te-gzip-chunked": "gzip, chunked",
        "te-chunked-gzip": "chunked, gzip",
        "te-xchunked": "xchunked",
        "te-identity": "identity",
    }.items():
        payload = request(
            "POST",
            "/hello",
            headers=[("Transfer-Encoding", value)],
            body=b"5\r\nhello\r\n0\r\n\r\n",
        )
        cases.append(Case("chunked", name, payload, half_close=True))
    twice = request(
        "POST",
        "/hello",
        headers=[("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")],
        body=b"5\r\nhello\r\n0\r\n\r\n",
    )
    cases.append(Case("chunked", "te-twice", twice, half_close=True))
    return cases


def pipelined_attacks() -> list[Case]:
    valid = request("GET", "/hello", close=False)
    garbage = {
        "random-bytes": bytes(range(256)),
        "bad-request-line": b"NOT A REQUEST\r\n\r\n",
        "70KB-junk": b"x" * 70_000,
        "nul-bytes": b"\x00" * 1000,
        "half-request": b"GET /hel",
        "bad-content-length": b"POST /hello HTTP/1.1\r\nContent-Length: -7\r\n\r\n",
    }
    cases = [
        Case("pipelined", name, valid + junk, half_close=True, requests=2)
        for name, junk in garbage.items()
    ]
    cases.append(
        Case(
            "pipelined",
            "two-valid-then-junk",
            valid + request("GET", "/json", close=False) + b"\xff\xfe JUNK\r\n\r\n",
            half_close=True,
            requests=3,
        )
    )
    # Ten pipelined good requests, the last with Connection: close: all ten are answered.
    ten = [request("GET", "/hello", close=False)] * 9 + [request("GET", "/json")]
    cases.append(Case("pipelined", "ten-valid", b"".join(ten), kind=VALID, requests=10))
    return cases


def non_utf8_attacks() -> list[Case]:
    targets = {
        "path-raw-ff": b"/hello\xff\xfe",
        "path-raw-latin1": b"/h\xe9llo",
        "path-pct-ff": b"/hello%ff%fe",
        "path-overlong": b"/%c0%afhello",
        "query-raw-ff": b"/sleep?ms=\xff",
        "query-pct-ff": b"/sleep?ms=%ff",
        "query-cpu-bad-seq": b"/cpu?n=%c3%28",
        "query-form-ff": b"/fanout?n=2&ms=1&form=%ff",
        "query-name-ff": b"/cpu?%ff=1&n=5",
        "query-surrogate": b"/upstream?ms=%ed%a0%80",
    }
    return [Case("non-utf8", name, _get(t), half_close=False) for name, t in targets.items()]


def method_attacks() -> list[Case]:
    cases = []
    for method in METHODS:
        for path in ENDPOINTS:
            body = b"x" if method in ("POST", "PUT", "PATCH") else b""
            headers = [] if body else [("Content-Length", "0")]
            payload = request(method, path, headers=headers, body=body)
            cases.append(Case("methods", f"{method} {path}", payload, kind=VALID, expect=1))
    return cases


def _bad_numbers(hi: int) -> list[str]:
    return [
        "",
        "-1",
        str(hi + 1),
        "99999999999999999999",
        "1e3",
        "1.5",
        "abc",
        "0x10",
        "%EF%BC%91",  # a full-width digit one
        "%00",
        "1%002",
        "%2B1",  # "+1"
        "１",  # raw full-width digit, sent as UTF-8 below
    ]


def parameter_attacks() -> list[Case]:
    targets: list[str] = []
    for value in _bad_numbers(MS_MAX):
        targets += [f"/sleep?ms={value}", f"/upstream?ms={value}", f"/fanout?n=2&ms={value}"]
    for value in _bad_numbers(CPU_N_MAX):
        targets.append(f"/cpu?n={value}")
    for value in _bad_numbers(FANOUT_N_MAX):
        targets.append(f"/fanout?n={value}&ms=1")
    targets += [
        "/sleep",
        "/cpu",
        "/upstream",
        "/fanout",
        "/fanout?n=2",
        "/fanout?ms=1",
        "/cpu?n=0",
        "/fanout?n=0&ms=1",
        f"/fanout?n={FANOUT_N_MAX}&ms={MS_MAX}",  # n*ms above the 60 s cap
        "/fanout?n=7&ms=9000",  # 63 s: just above the cap
        "/fanout?n=2&ms=1&form=tuple",
        "/fanout?n=2&ms=1&form=",
        "/fanout?n=2&ms=1&form=LIST",
        "/sleep?ms=1&ms=abc",  # the last value counts
        "/sleep?ms=" + "9" * 5000,
        "/cpu?n=" + "1" * 5000,
    ]
    cases = [
        Case("parameters", t, _get(t.encode("utf-8")), kind=REFUSAL, expect=1) for t in targets
    ]
    # Tornado strips surrounding whitespace from arguments: these are valid, and answered.
    for t in ("/sleep?ms=%201", "/cpu?n=5%20", "/fanout?n=%202&ms=1", "/sleep?ms=abc&ms=1"):
        cases.append(Case("parameters", t, _get(t), kind=VALID, expect=1))
    return cases


FAMILIES: tuple[Callable[[], list[Case]], ...] = (
    malformed_request_lines,
    header_attacks,
    content_length_attacks,
    chunked_attacks,
    pipelined_attacks,
    non_utf8_attacks,
    method_attacks,
    parameter_attacks,
)


def all_cases() -> list[Case]:
    return [case for family in FAMILIES for case in family()]


# -- the attack -----------------------------------------------------------------------------


def server_pids(leader_pid: int) -> set[int]:
    """The leader and its children (a multiprocess server's forked workers)."""
    try:
        leader = psutil.Process(leader_pid)
        return {leader_pid, *(c.pid for c in leader.children(recursive=True))}
    except psutil.NoSuchProcess:
        return set()


def hostile_attack(server: Server, variant: str, rounds: int = ROUNDS) -> HostileFigures:
    """Run every case `rounds` times against server; count crashes (the leader exiting, or a
    forked worker replaced), 5xx answers other than 502/504, and the slowest 400 refusal."""
    figures = HostileFigures(variant)
    before = server_pids(server.child.pid)
    cases = all_cases()
    for _ in range(rounds):
        for case in cases:
            ex = exchange(server.port, case.payload, half_close=case.half_close, expect=case.expect)
            figures.outcomes.append(Outcome(case, ex))
            figures.requests += case.requests
            figures.dropped += int(ex.dropped and ex.first is None)
            figures.timed_out += int(ex.timed_out)
    figures.other_5xx = len(figures.bad_5xx())
    # Every parameter case, whatever it answered (a slow non-400 is a failure on its own).
    refusal_times = [o.exchange.seconds * 1000 for o in figures.outcomes if o.case.kind == REFUSAL]
    figures.longest_refusal_ms = max(refusal_times, default=0.0)
    time.sleep(0.2)  # a worker that died is noticed (and replaced) by its parent by now
    after = server_pids(server.child.pid)
    figures.crashes = (0 if server.child.alive() else 1) + len(before - after)
    figures.health_after, _ = get_status(server.port, "/health")
    return figures


def start_hostile_target(variant: str, backend_url: str) -> Server:
    processes = 2 if forks(variant) else None
    return start_server(variant, processes=processes, backend_url=backend_url)


# -- the tests ------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=VARIANT_NAMES)
def hostile(request: pytest.FixtureRequest, backend: Server) -> Iterator[HostileFigures]:
    """One server per variant for the whole module; the battery runs once against it."""
    server = start_hostile_target(request.param, backend.base)
    try:
        yield hostile_attack(server, request.param)
    finally:
        server.child.stop()


def test_the_battery_is_big_enough(hostile: HostileFigures) -> None:
    assert hostile.requests >= MIN_REQUESTS


def test_no_crash(hostile: HostileFigures) -> None:
    assert hostile.crashes == 0


def test_no_5xx_other_than_502_504(hostile: HostileFigures) -> None:
    assert hostile.bad_5xx() == []


def test_well_formed_requests_are_answered(hostile: HostileFigures) -> None:
    """Every method on every endpoint and pipelined good requests get an answer (no drop)."""
    assert hostile.unanswered_valid() == []
    ten = [o for o in hostile.outcomes if o.case.name == "ten-valid"]
    assert ten and all(o.exchange.statuses == [200] * 10 for o in ten)


def test_parameter_refusals_are_quick_400s(hostile: HostileFigures) -> None:
    assert hostile.bad_refusals() == []
    assert hostile.longest_refusal_ms < REFUSAL_LIMIT_S * 1000


def test_health_answers_afterwards(hostile: HostileFigures) -> None:
    assert hostile.health_after == 200
