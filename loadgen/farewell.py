"""Tells remote workers that a run is over, so `run_bench.py worker` exits at once instead of
waiting out its timeout: run as a process (`python -m loadgen.farewell`) by the harness when a
run with remote workers ends. It listens on the run's master port for a few seconds with
Locust's own RPC socket, answers a waiting worker's `client_ready` as a master would, and
answers its hello (loadgen/worker.py) with `bench_run_over` when the token matches.
"""

from __future__ import annotations

import argparse
import hmac
import os
import time

import gevent
from locust.rpc import Message, zmqrpc

from loadgen.messages import HELLO, RUN_OVER, BadMessage, Hello


def _token_of(data: object) -> str | None:
    """The token a hello carries, None when it is no hello of this version (an empty
    token never matches: a run has one)."""
    try:
        return Hello.from_wire(data).token
    except BadMessage:
        return None


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m loadgen.farewell")
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1, help="stop once this many said goodbye")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    token = os.environ.get("BENCH_TOKEN", "")
    server = zmqrpc.Server(args.bind, args.port)
    told: set[str] = set()
    deadline = time.monotonic() + args.seconds
    try:
        while len(told) < args.workers and time.monotonic() < deadline:
            try:
                with gevent.Timeout(max(0.01, deadline - time.monotonic())):
                    client, msg = server.recv_from_client()
            except gevent.Timeout:
                break
            if msg.type == "client_ready":
                server.send_to_client(Message("ack", {"index": len(told)}, client))
            elif msg.type == HELLO and hmac.compare_digest(_token_of(msg.data) or "", token):
                server.send_to_client(Message(RUN_OVER, None, client))
                told.add(client)
        gevent.sleep(0.2)  # let the last answers leave
    finally:
        server.close(linger=500)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
