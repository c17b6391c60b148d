"""Every endpoint on every registered variant, served in this process, including bad input
and a dead, hung or missing backend."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from catalog.limits import CPU_N_MAX, FANOUT_N_MAX, MS_MAX
from catalog.payloads import cpu_work
from catalog.strategies import VARIANTS
from servers.upstream import upstream_timeout_s
from tests.servers.inprocess import AppUnderTest, unused_port

# How long past its deadline a failed upstream call may take to be answered.
DEADLINE_MARGIN_S = 1.5
CONFIGURED_PROCESSES = 2


@pytest.fixture(params=sorted(VARIANTS))
def server(
    request: pytest.FixtureRequest, serve: Callable[..., AppUnderTest], thread_backend: str
) -> AppUnderTest:
    return serve(request.param, backend_url=thread_backend, processes=CONFIGURED_PROCESSES)


def assert_no_traceback_logged(caplog: pytest.LogCaptureFixture) -> None:
    # A failed upstream call is an answer (502/504), not a server fault.
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []


def get_json(server: AppUnderTest, path: str) -> dict:
    status, headers, body = server.get(path)
    assert status == 200, body
    assert headers["Content-Type"].startswith("application/json")
    return json.loads(body)


def test_health_reports_variant_and_loop(server: AppUnderTest) -> None:
    body = get_json(server, "/health")
    assert body["status"] == "ok"
    assert body["variant"] in VARIANTS
    assert body["variant"] == server.config.variant
    assert body["loop"].startswith("asyncio.")
    assert isinstance(body["pid"], int)
    facts = VARIANTS[server.config.variant]
    assert body["processes"] == facts.processes(CONFIGURED_PROCESSES)


def test_hello(server: AppUnderTest) -> None:
    status, headers, body = server.get("/hello")
    assert (status, body) == (200, b"Hello, world")
    assert headers["Content-Type"].startswith("text/plain")


def test_json(server: AppUnderTest) -> None:
    assert get_json(server, "/json")["message"] == "Hello, World!"


def test_sleep_waits(server: AppUnderTest) -> None:
    started = time.monotonic()
    assert get_json(server, "/sleep?ms=100")["slept_ms"] == 100
    assert time.monotonic() - started >= 0.09


def test_cpu_result_is_the_real_computation(server: AppUnderTest) -> None:
    assert get_json(server, "/cpu?n=12345") == {"n": 12345, "result": cpu_work(12345)}


def test_upstream_carries_backend_answer(server: AppUnderTest) -> None:
    body = get_json(server, "/upstream?ms=5")
    assert body["ms"] == 5
    assert body["upstream"]["id"] == 0 and body["upstream"]["ms"] == 5


@pytest.mark.parametrize("form", ["list", "dict"])
def test_fanout_carries_every_call(server: AppUnderTest, form: str) -> None:
    body = get_json(server, f"/fanout?n=5&ms=5&form={form}")
    assert body["ids"] == [0, 1, 2, 3, 4]
    assert body["form"] == form
    expected = "concurrent" if VARIANTS[server.config.variant].concurrent_fanout else "sequential"
    assert body["mode"] == expected


BAD_INPUT = [
    "/sleep",
    "/sleep?ms=",
    "/sleep?ms=abc",
    "/sleep?ms=-1",
    "/sleep?ms=1.5",
    "/sleep?ms=NaN",
    "/sleep?ms=inf",
    f"/sleep?ms={MS_MAX + 1}",
    "/sleep?ms=99999999999999999999",
    "/cpu",
    "/cpu?n=0",
    f"/cpu?n={CPU_N_MAX + 1}",
    "/cpu?n=1e3",
    "/upstream?ms=-5",
    f"/upstream?ms={MS_MAX + 1}",
    "/fanout?ms=5",
    "/fanout?n=0&ms=5",
    f"/fanout?n={FANOUT_N_MAX + 1}&ms=5",
    "/fanout?n=2",
    "/fanout?n=2&ms=5&form=set",
    "/fanout?n=64&ms=10000",
]


@pytest.mark.parametrize("path", BAD_INPUT)
def test_bad_input_is_a_short_400(server: AppUnderTest, path: str) -> None:
    started = time.monotonic()
    status, headers, body = server.get(path)
    assert status == 400
    assert headers["Content-Type"].startswith("text/plain")
    assert len(body) < 120 and b"Traceback" not in body
    assert time.monotonic() - started < 1.0


def test_error_message_never_echoes_the_request(server: AppUnderTest) -> None:
    status, _, body = server.get("/sleep?ms=%3Cscript%3E")
    assert status == 400
    assert b"script" not in body


def test_unknown_path_is_404(server: AppUnderTest) -> None:
    assert server.get("/nope")[0] == 404


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("path", ["/upstream?ms=10", "/fanout?n=3&ms=10"])
def test_backend_down_is_a_quick_502(
    serve: Callable[..., AppUnderTest], caplog: pytest.LogCaptureFixture, variant: str, path: str
) -> None:
    srv = serve(variant, backend_url=f"http://127.0.0.1:{unused_port()}")
    started = time.monotonic()
    status, headers, body = srv.get(path)
    assert status in (502, 504), body
    assert time.monotonic() - started < 3.0
    assert body == b"502: backend unreachable\n"
    assert headers["Content-Type"].startswith("text/plain")
    assert_no_traceback_logged(caplog)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_no_backend_configured_is_502(
    serve: Callable[..., AppUnderTest], caplog: pytest.LogCaptureFixture, variant: str
) -> None:
    status, _, body = serve(variant).get("/upstream?ms=1")
    assert status == 502
    assert body == b"502: no backend configured (start the server with --backend-url)\n"
    assert_no_traceback_logged(caplog)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_hung_backend_is_a_bounded_504(
    serve: Callable[..., AppUnderTest],
    silent_backend: str,
    short_slack: float,
    caplog: pytest.LogCaptureFixture,
    variant: str,
) -> None:
    srv = serve(variant, backend_url=silent_backend)
    started = time.monotonic()
    status, _, body = srv.get("/upstream?ms=0", timeout=10)
    assert status == 504, body
    elapsed = time.monotonic() - started
    assert elapsed < 4.0
    assert elapsed < upstream_timeout_s(0) + DEADLINE_MARGIN_S
    assert body == b"504: backend timed out\n"
    assert_no_traceback_logged(caplog)


@pytest.mark.parametrize("path", ["/te/db", "/te/queries?queries=3", "/te/updates", "/te/fortunes"])
def test_a_techempower_database_type_without_a_database_is_503(
    server: AppUnderTest, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Every strategy says why (no --db-url), never a 500: the arguments are read and the
    missing database refused before the connections are touched."""
    status, _, body = server.get(path)
    assert status == 503, body
    assert b"no database configured (start the server with --db-url)" in body
    assert_no_traceback_logged(caplog)
