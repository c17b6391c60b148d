from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from catalog.server_config import ServerConfig
from servers import backend, upstream
from tests.servers.inprocess import AppUnderTest, RawBackend, ServerThread, trickle

# A shorter per-call slack than UPSTREAM_SLACK_S, for tests that wait for a deadline: still
# longer than TRICKLE_INTERVAL_S, so a per-recv timeout alone would never fire.
SHORT_SLACK_S = 0.6


@pytest.fixture
def serve() -> Iterator[Callable[..., AppUnderTest]]:
    """Serve variants in this process for one test; every one is torn down afterwards."""
    with ExitStack() as stack:

        def factory(variant: str, **config: Any) -> AppUnderTest:
            app = AppUnderTest(ServerConfig(variant=variant, **config))
            app.setUp()
            stack.callback(app.tearDown)
            return app

        yield factory


@pytest.fixture(scope="session")
def thread_backend() -> Iterator[str]:
    """The real backend application, on a thread with its own loop; its base URL."""
    with ServerThread(lambda: backend.make_app(ServerConfig(variant="backend"))) as srv:
        yield srv.base


@pytest.fixture
def trickle_backend() -> Iterator[RawBackend]:
    """A backend that sends its answer one byte every TRICKLE_INTERVAL_S."""
    with RawBackend(trickle) as srv:
        yield srv


@pytest.fixture
def silent_backend() -> Iterator[str]:
    """A port that accepts connections and never answers: a hung backend."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@pytest.fixture
def short_slack(monkeypatch: pytest.MonkeyPatch) -> float:
    """Upstream deadlines of ms + SHORT_SLACK_S, so tests that wait for one are quick."""
    monkeypatch.setattr(upstream, "UPSTREAM_SLACK_S", SHORT_SLACK_S)
    return SHORT_SLACK_S
