"""--http-client curl: real server processes calling a backend that counts the connections it
accepts. curl_httpclient keeps them alive; simple_httpclient opens one per call. Without
pycurl the server refuses to start, with one line that says how to install it."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from tornado.httpserver import HTTPServer
from tornado.iostream import IOStream
from tornado.testing import bind_unused_port

from catalog import server_config
from catalog.limits import PYCURL_HINT
from catalog.server_config import ServerConfig
from harness.processes import procs
from servers import backend, launch
from tests.conftest import Server

try:
    import pycurl  # noqa: F401

    HAVE_PYCURL = True
except ImportError:
    HAVE_PYCURL = False

needs_pycurl = pytest.mark.skipif(
    not HAVE_PYCURL, reason=f"pycurl cannot be imported here: {PYCURL_HINT}"
)
CALLS = 20


class CountingHTTPServer(HTTPServer):
    def initialize(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        super().initialize(*args, **kwargs)
        self.accepted = 0

    def handle_stream(self, stream: IOStream, address: tuple) -> None:
        self.accepted += 1  # once per accepted TCP connection
        super().handle_stream(stream, address)


class CountingBackend:
    """The real backend application on a thread of its own, counting accepted connections."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._server: CountingHTTPServer | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)
        self.base = ""

    async def _serve(self) -> None:
        sock, port = bind_unused_port()
        self._server = CountingHTTPServer(backend.make_app(ServerConfig(variant="backend")))
        self._server.add_sockets([sock])
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.base = f"http://127.0.0.1:{port}"
        self._ready.set()
        await self._stop.wait()
        self._server.stop()
        await self._server.close_all_connections()

    @property
    def accepted(self) -> int:
        assert self._server is not None
        return self._server.accepted

    def __enter__(self) -> CountingBackend:
        self._thread.start()
        assert self._ready.wait(10), "backend thread did not start"
        return self

    def __exit__(self, *exc_info: Any) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@pytest.fixture
def counting_backend() -> Iterator[CountingBackend]:
    with CountingBackend() as srv:
        yield srv


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start `python -m servers VARIANT --http-client C ...`; stopped (group and all) after."""
    with ExitStack() as stack:

        def factory(variant: str, client: str, backend_url: str) -> Server:
            port = procs.free_port()
            argv = procs.python_argv(
                "-m", "servers", variant, "--port", str(port), "--backend-url", backend_url
            )
            argv += ["--http-client", client]
            child = procs.start(variant, argv, log_path=tmp_path / f"{variant}-{client}.log")
            stack.callback(child.stop)
            procs.wait_ready(f"http://127.0.0.1:{port}/health", child)
            return Server(child, port)

        yield factory


def get_json(server: Server, path: str) -> dict:
    status, _, body = server.get(path)
    assert status == 200, body
    return json.loads(body)


@needs_pycurl
@pytest.mark.parametrize("variant", ["coroutine", "gencoroutine"])
def test_curl_keeps_upstream_connections_alive(
    start: Callable[..., Server], counting_backend: CountingBackend, variant: str
) -> None:
    server = start(variant, "curl", counting_backend.base)
    assert get_json(server, "/health")["http_client"] == "curl"
    for _ in range(CALLS):
        assert get_json(server, "/upstream?ms=1")["upstream"]["ms"] == 1
    # One call at a time: one connection, kept alive (a spare one at most).
    assert 1 <= counting_backend.accepted <= 2


@needs_pycurl
def test_curl_reuses_connections_across_fanouts(
    start: Callable[..., Server], counting_backend: CountingBackend
) -> None:
    server = start("fanout", "curl", counting_backend.base)
    for _ in range(5):
        assert get_json(server, "/fanout?n=4&ms=20")["ids"] == [0, 1, 2, 3]
    # Four calls at once need four connections; the next fan-outs reuse them.
    assert counting_backend.accepted < 5 * 4
    assert counting_backend.accepted <= 8


def test_simple_client_connects_for_every_call(
    start: Callable[..., Server], counting_backend: CountingBackend
) -> None:
    server = start("coroutine", "simple", counting_backend.base)
    assert get_json(server, "/health")["http_client"] == "simple"
    for _ in range(CALLS):
        get_json(server, "/upstream?ms=1")
    assert counting_backend.accepted == CALLS


@needs_pycurl
def test_curl_hung_backend_is_a_bounded_504(start: Callable[..., Server]) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        server = start("coroutine", "curl", f"http://127.0.0.1:{silent.getsockname()[1]}")
        started = time.monotonic()
        status, _, body = server.get("/upstream?ms=0", timeout=10)
        assert (status, body) == (504, b"504: backend timed out\n")
        assert time.monotonic() - started < 4.5  # the 2 s deadline plus a busy machine


@needs_pycurl
def test_curl_backend_down_is_a_502(start: Callable[..., Server]) -> None:
    server = start("coroutine", "curl", f"http://127.0.0.1:{procs.free_port()}")
    status, _, body = server.get("/upstream?ms=1")
    assert (status, body) == (502, b"502: backend unreachable\n")


def test_curl_without_pycurl_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(__import__("sys").modules, "pycurl", None)  # import pycurl fails
    assert launch.main(["coroutine", "--port", "0", "--http-client", "curl"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("error: --http-client curl needs pycurl")
    assert "pip install pycurl==" in err and "libcurl4-openssl-dev" in err


def test_unknown_http_client_is_refused() -> None:
    with pytest.raises(SystemExit):
        server_config.build_parser().parse_args(["coroutine", "--http-client", "urllib3"])
    with pytest.raises(ValueError, match="http-client"):
        ServerConfig(variant="coroutine", http_client="urllib3")
