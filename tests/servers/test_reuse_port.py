"""SO_REUSEPORT for the forking strategy: the kernel spreads kept-alive connections over the
processes, where one shared socket can leave one process with every connection."""

from __future__ import annotations

import http.client
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import Server, start_server

# The kernel hashes each connection to one of the sockets, a fair coin per client: with 10
# clients one process got only 1 about once in 50 runs (2 x 11/1024). With 40, fewer than 8 on
# either side (the 20 % asserted below) is about 4 in 100,000.
CLIENTS = 40
REQUESTS_EACH = 5


def _pids(server: Server) -> Counter[int]:
    def client(_: int) -> list[int]:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            pids = []
            for _ in range(REQUESTS_EACH):  # one kept-alive connection per client
                conn.request("GET", "/sleep?ms=20")
                pids.append(json.loads(conn.getresponse().read())["pid"])
            return pids
        finally:
            conn.close()

    with ThreadPoolExecutor(CLIENTS) as pool:
        return Counter(pid for pids in pool.map(client, range(CLIENTS)) for pid in pids)


def test_reuse_port_lets_both_processes_serve_kept_alive_clients() -> None:
    server = start_server("multiprocess", processes=2, reuse_port=True)
    try:
        served = _pids(server)
    finally:
        server.child.stop()
    total = CLIENTS * REQUESTS_EACH
    assert sum(served.values()) == total
    assert len(served) == 2, served
    assert min(served.values()) >= 0.2 * total, served


def test_reuse_port_is_refused_for_a_strategy_that_does_not_fork(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import launch_refusal

    result = launch_refusal(capsys, monkeypatch, "coroutine", "--port", "0", "--reuse-port")
    assert result.returncode == 1
    assert "--reuse-port is for a forking strategy (multiprocess) only" in result.stderr
