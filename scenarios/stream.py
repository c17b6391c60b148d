"""GET /stream?chunks=--chunks&bytes=--bytes&ms=--ms: K chunks of B bytes, D ms apart.

Each request is timed twice from the moment it is sent: to its first body byte, carried in
the request's context as ``ttfb_ms`` (the recorder's ttfb_ms column), and to its last byte,
the request's response time. One request event per request: the with-block fires it once,
after the whole body is read and checked."""

import contextlib
import time
from functools import lru_cache
from typing import Any

from locust import FastHttpUser, constant, events, task

from catalog.payloads import stream_body
from loadgen.checks import add_option

READ_SIZE = 64 * 1024


@events.init_command_line_parser.add_listener
def add_stream_options(parser: Any) -> None:
    add_option(parser, "--chunks", type=int, default=8, help="/stream: chunks per answer")
    add_option(parser, "--bytes", type=int, default=4096, help="/stream: bytes per chunk")


@lru_cache(maxsize=4)
def expected_body(chunks: int, size: int) -> bytes:
    """One copy per process, shared by every user."""
    return stream_body(chunks, size)


class StreamUser(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        opts = self.environment.parsed_options
        self.path = f"/stream?chunks={opts.chunks}&bytes={opts.bytes}&ms={opts.ms}"
        self.body = expected_body(opts.chunks, opts.bytes)

    @task
    def stream(self) -> None:
        started = time.perf_counter()
        with self.client.get(self.path, name="/stream", stream=True, catch_response=True) as resp:
            # Without the body read, Locust's response time is the time to the headers.
            meta = resp.request_meta
            if resp.status_code != 200:
                resp.failure(f"status {resp.status_code}")
                with contextlib.suppress(Exception):
                    _ = resp.content  # the short error body, read so the connection is reused
                meta["response_time"] = (time.perf_counter() - started) * 1000
                return
            try:
                first = next(resp.iter_content(1, decode_content=False), b"")
                first_at = time.perf_counter()
                rest = b"".join(resp.iter_content(READ_SIZE, decode_content=False))
            except Exception as exc:  # reset or cut short in the middle of the body
                meta["response_time"] = (time.perf_counter() - started) * 1000
                resp.failure(f"body cut short ({type(exc).__name__})")
                return
            done_at = time.perf_counter()
            body = first + rest
            meta["response_time"] = (done_at - started) * 1000
            meta["response_length"] = len(body)
            # A new dict: Locust may hand every request the same context object.
            meta["context"] = {**meta["context"], "ttfb_ms": (first_at - started) * 1000}
            if body == self.body:
                resp.success()
            else:
                resp.failure("unexpected body")
