"""Every endpoint on every registered variant, including bad input and a dead backend."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from servers.config import CPU_N_MAX, FANOUT_N_MAX, MS_MAX
from servers.registry import VARIANTS
from servers.work import cpu_work
from tests.conftest import Server, start_server


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def server(request: pytest.FixtureRequest, backend: Server) -> Iterator[Server]:
    kwargs: dict[str, object] = {"backend_url": backend.base}
    if request.param == "multiprocess":
        kwargs["processes"] = 2
    srv = start_server(request.param, **kwargs)
    try:
        yield srv
    finally:
        srv.child.stop()


def get_json(server: Server, path: str) -> dict:
    status, headers, body = server.get(path)
    assert status == 200, body
    assert headers["Content-Type"].startswith("application/json")
    return json.loads(body)


def test_health_reports_variant_and_loop(server: Server) -> None:
    body = get_json(server, "/health")
    assert body["status"] == "ok"
    assert body["variant"] in VARIANTS
    assert body["loop"].startswith("asyncio.")
    assert isinstance(body["pid"], int)


def test_hello(server: Server) -> None:
    status, headers, body = server.get("/hello")
    assert (status, body) == (200, b"Hello, world")
    assert headers["Content-Type"].startswith("text/plain")


def test_json(server: Server) -> None:
    assert get_json(server, "/json")["message"] == "Hello, World!"


def test_sleep_waits(server: Server) -> None:
    started = time.monotonic()
    assert get_json(server, "/sleep?ms=100")["slept_ms"] == 100
    assert time.monotonic() - started >= 0.09


def test_cpu_result_is_the_real_computation(server: Server) -> None:
    assert get_json(server, "/cpu?n=12345") == {"n": 12345, "result": cpu_work(12345)}


def test_upstream_carries_backend_answer(server: Server) -> None:
    body = get_json(server, "/upstream?ms=5")
    assert body["ms"] == 5
    assert body["upstream"]["id"] == 0 and body["upstream"]["ms"] == 5


@pytest.mark.parametrize("form", ["list", "dict"])
def test_fanout_carries_every_call(server: Server, form: str) -> None:
    body = get_json(server, f"/fanout?n=5&ms=5&form={form}")
    assert body["ids"] == [0, 1, 2, 3, 4]
    assert body["form"] == form
    expected = (
        "concurrent"
        if VARIANTS[get_json(server, "/health")["variant"]].concurrent_fanout
        else "sequential"
    )
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
def test_bad_input_is_a_short_400(server: Server, path: str) -> None:
    started = time.monotonic()
    status, headers, body = server.get(path)
    assert status == 400
    assert headers["Content-Type"].startswith("text/plain")
    assert len(body) < 120 and b"Traceback" not in body
    assert time.monotonic() - started < 1.0


def test_error_message_never_echoes_the_request(server: Server) -> None:
    status, _, body = server.get("/sleep?ms=%3Cscript%3E")
    assert status == 400
    assert b"script" not in body


def test_unknown_path_is_404(server: Server) -> None:
    assert server.get("/nope")[0] == 404


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("path", ["/upstream?ms=10", "/fanout?n=3&ms=10"])
def test_backend_down_is_a_quick_502(server_factory, variant: str, path: str) -> None:  # type: ignore[no-untyped-def]
    from harness.procs import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    kwargs: dict[str, object] = {"backend_url": dead}
    if variant == "multiprocess":
        kwargs["processes"] = 1
    srv = server_factory(variant, **kwargs)
    started = time.monotonic()
    status, _, body = srv.get(path)
    assert status in (502, 504), body
    assert time.monotonic() - started < 3.0


def test_no_backend_configured_is_502(server_factory) -> None:  # type: ignore[no-untyped-def]
    srv = server_factory("coroutine")
    assert srv.get("/upstream?ms=1")[0] == 502


@pytest.fixture
def silent_backend() -> Iterator[str]:
    """A port that accepts connections and never answers: a hung backend."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_hung_backend_is_a_bounded_504(server_factory, silent_backend: str, variant: str) -> None:  # type: ignore[no-untyped-def]
    kwargs: dict[str, object] = {"backend_url": silent_backend}
    if variant == "multiprocess":
        kwargs["processes"] = 1
    srv = server_factory(variant, **kwargs)
    started = time.monotonic()
    status, _, body = srv.get("/upstream?ms=0", timeout=10)
    assert status == 504, body
    assert time.monotonic() - started < 4.0
