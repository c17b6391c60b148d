"""Handlers and helpers shared by every variant: the strategy makes no difference here."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import re
from concurrent.futures import Executor
from dataclasses import dataclass, fields
from typing import Any

import tornado
from tornado import httpclient, web
from tornado.iostream import StreamClosedError
from tornado.simple_httpclient import HTTPTimeoutError

from catalog.health import Health
from catalog.limits import (
    CPU_N_MAX,
    FANOUT_N_MAX,
    FANOUT_TOTAL_MS_MAX,
    MS_MAX,
    STREAM_CHUNK_BYTES_MAX,
    STREAM_CHUNKS_MAX,
    STREAM_TOTAL_BYTES_MAX,
    STREAM_TOTAL_MS_MAX,
)
from catalog.payloads import STREAM_CONTENT_TYPE, cpu_work, stream_chunk
from catalog.server_config import ServerConfig
from servers.config import UPSTREAM_CONNECT_TIMEOUT_S
from servers.upstream import (
    BlockingUpstream,
    UpstreamError,
    delay_path,
    parse_backend_body,
    upstream_timeout_s,
)
from servers.work import Backlog, Job

_UINT = re.compile(r"[0-9]{1,9}")
FANOUT_FORMS = ("list", "dict")
ENQUEUE_PARAMS = ("ms", "n")
STREAM_PARAMS = ("chunks", "bytes", "ms")
# libcurl's CURLE_OPERATION_TIMEDOUT: a curl upstream call that passed its deadline.
CURL_TIMED_OUT = 28


class BenchHandler(web.RequestHandler):
    """Base for every endpoint: strict parameter parsing and short plain-text errors."""

    config: ServerConfig

    def initialize(self, config: ServerConfig, **_: Any) -> None:
        self.config = config

    def int_param(self, name: str, lo: int, hi: int, default: int | None = None) -> int:
        raw = self.get_query_argument(name, None)
        if raw is None and default is not None:
            return default
        # The message names the parameter and the allowed range, never the value sent.
        message = f"{name} must be an integer in {lo}..{hi}"
        if raw is None or not _UINT.fullmatch(raw):
            raise web.HTTPError(400, message)
        value = int(raw)
        if not lo <= value <= hi:
            raise web.HTTPError(400, message)
        return value

    def ms_param(self) -> int:
        return self.int_param("ms", 0, MS_MAX)

    def cpu_n_param(self) -> int:
        return self.int_param("n", 1, CPU_N_MAX)

    def fanout_params(self) -> tuple[int, int, str]:
        n = self.int_param("n", 1, FANOUT_N_MAX)
        ms = self.ms_param()
        if n * ms > FANOUT_TOTAL_MS_MAX:
            raise web.HTTPError(400, f"n*ms must be at most {FANOUT_TOTAL_MS_MAX}")
        form = self.get_query_argument("form", "list")
        if form not in FANOUT_FORMS:
            raise web.HTTPError(400, "form must be list or dict")
        return n, ms, form

    def only_params(self, allowed: tuple[str, ...]) -> None:
        """400 for a query parameter the endpoint does not take (a misspelt one would
        otherwise be ignored and the default measured instead)."""
        if any(name not in allowed for name in self.request.query_arguments):
            raise web.HTTPError(400, f"unknown parameter; this endpoint takes {', '.join(allowed)}")

    # --- /enqueue: respond now, work later -------------------------------------------------

    @property
    def backlog(self) -> Backlog:
        backlog: Backlog = self.application.settings["backlog"]
        return backlog

    def admit_job(self) -> Job:
        """Parse /enqueue?ms=D (a wait) or ?n=N (CPU work), exactly one of them, and admit
        the job to the backlog: a 503 when max_backlog jobs are already pending."""
        self.only_params(ENQUEUE_PARAMS)
        given = [name for name in ENQUEUE_PARAMS if name in self.request.query_arguments]
        if len(given) != 1:
            raise web.HTTPError(400, "give exactly one of ms (a wait) or n (CPU work)")
        if given == ["ms"]:
            job = self.backlog.admit(ms=self.ms_param())
        else:
            job = self.backlog.admit(n=self.cpu_n_param())
        if job is None:
            raise web.HTTPError(
                503, f"background backlog full ({self.backlog.limit} jobs pending); retry later"
            )
        return job

    def write_accepted(self, job: Job) -> None:
        """The answer to /enqueue: sent before the job has run."""
        self.write_json(
            {
                "accepted": True,
                **job.describe(),
                "pending": self.backlog.pending,
                "pid": os.getpid(),
            }
        )

    # --- /stream: chunks written and flushed one by one --------------------------------------

    def stream_params(self) -> tuple[int, int, int]:
        """chunks, bytes per chunk and the ms between chunks, each bounded; their product and
        the total wait capped (STREAM_TOTAL_BYTES_MAX, STREAM_TOTAL_MS_MAX)."""
        self.only_params(STREAM_PARAMS)
        chunks = self.int_param("chunks", 1, STREAM_CHUNKS_MAX)
        size = self.int_param("bytes", 1, STREAM_CHUNK_BYTES_MAX)
        ms = self.ms_param()
        if chunks * size > STREAM_TOTAL_BYTES_MAX:
            raise web.HTTPError(400, f"chunks*bytes must be at most {STREAM_TOTAL_BYTES_MAX}")
        if (chunks - 1) * ms > STREAM_TOTAL_MS_MAX:
            raise web.HTTPError(400, f"(chunks-1)*ms must be at most {STREAM_TOTAL_MS_MAX}")
        self.set_header("Content-Type", STREAM_CONTENT_TYPE)
        return chunks, size, ms

    def write_chunk(self, index: int, size: int) -> None:
        """Queue chunk ``index``; the caller flushes it (the first flush sends the headers)."""
        self.write(stream_chunk(index, size))

    def client_gone(self) -> bool:
        """True once a write found the connection closed: a blocking streamer stops there
        (it cannot see the close any other way while it holds the IOLoop)."""
        stream = getattr(self.request.connection, "stream", None)
        return stream is not None and stream.closed()

    def write_json(self, body: dict[str, Any]) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def write_slept(self, ms: int) -> None:
        # The pid shows which process served a request (multiprocess spreads them).
        self.write_json({"slept_ms": ms, "pid": os.getpid()})

    def write_upstream(self, ms: int, result: dict[str, Any]) -> None:
        self.write_json({"ms": ms, "upstream": result})

    def write_fanout(
        self, n: int, ms: int, form: str, mode: str, results: list[dict[str, Any]]
    ) -> None:
        self.write_json(
            {
                "n": n,
                "ms": ms,
                "form": form,
                "mode": mode,
                "ids": [r["id"] for r in results],
            }
        )

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        message = self._reason
        exc_info = kwargs.get("exc_info")
        exc = exc_info[1] if exc_info is not None else None
        if isinstance(exc, UpstreamError):
            # Handlers let a failed upstream call propagate; Tornado answers any exception
            # that is not an HTTPError with 500, so its own status (502/504) is set here.
            status_code = exc.status
            self.set_status(status_code)
            message = exc.message
        elif isinstance(exc, web.HTTPError) and exc.log_message:
            message = exc.log_message
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.finish(f"{status_code}: {message}\n")

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        # 4xx/5xx raised on purpose and failed upstream calls are answers, not server
        # faults: keep the log quiet.
        # A client that leaves in the middle of a stream is not a fault either.
        if isinstance(value, (web.HTTPError, UpstreamError, StreamClosedError)):
            return
        super().log_exception(typ, value, tb)


class HealthHandler(BenchHandler):
    def get(self) -> None:
        loop = asyncio.get_running_loop()
        backlog = self.application.settings.get("backlog")
        hub = self.application.settings.get("live")
        health = Health(
            status="ok",
            variant=self.config.variant,
            loop=f"{type(loop).__module__}.{type(loop).__qualname__}",
            pid=os.getpid(),
            threads=self.config.threads,
            processes=self.config.process_count,
            http_client=self.config.http_client,
            # /enqueue jobs and long-lived connections of this process (each forked process
            # keeps its own).
            background=backlog.snapshot() if isinstance(backlog, Backlog) else None,
            live=hub.snapshot() if hub is not None else None,
            python=platform.python_version(),
            tornado=tornado.version,
        )
        self.set_header("Content-Type", "application/json")
        self.finish(health.to_json())


class HelloHandler(BenchHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.finish("Hello, world")


class JsonHandler(BenchHandler):
    def get(self) -> None:
        self.write_json({"message": "Hello, World!", "numbers": list(range(10))})


class InlineCpuHandler(BenchHandler):
    """/cpu on the IOLoop: the work holds it until done. Shared by every strategy that runs its
    CPU work inline (sync, multiprocess, and the awaiting ones: awaiting does not help CPU)."""

    def get(self) -> None:
        n = self.cpu_n_param()
        self.write_json({"n": n, "result": cpu_work(n)})


@dataclass(frozen=True)
class Handlers:
    """A strategy's own handlers for the request → response workloads whose code differs
    between strategies (the long-lived, upload and database ones are chosen by its Style:
    servers/registry.py)."""

    sleep: type[BenchHandler]
    cpu: type[BenchHandler]
    upstream: type[BenchHandler]
    fanout: type[BenchHandler]
    enqueue: type[BenchHandler]
    stream: type[BenchHandler]

    def routes(self, kw: dict[str, Any]) -> list[Route]:
        return [(f"/{f.name}", getattr(self, f.name), kw) for f in fields(self)]


Route = tuple[str, Any, dict[str, Any]]


def common_routes(config: ServerConfig) -> list[Route]:
    kw = {"config": config}
    return [
        (r"/health", HealthHandler, kw),
        (r"/hello", HelloHandler, kw),
        (r"/json", JsonHandler, kw),
    ]


def make_application(routes: list[Any], **settings: Any) -> web.Application:
    # Access logging costs more than a /hello request itself: off by default.
    return web.Application(routes, debug=False, log_function=lambda handler: None, **settings)


def release(app: web.Application, *, wait: bool = False) -> None:
    """Free what a strategy's make_app created: its thread pool, its kept-alive upstream
    connections and its database connections (servers/db.py: every database object has
    close()). ``wait`` lets running pool jobs finish first (a server that is exiting does
    not wait for them)."""
    executor = app.settings.get("executor")
    if isinstance(executor, Executor):
        executor.shutdown(wait=wait, cancel_futures=True)
    upstream = app.settings.get("upstream_client")
    if isinstance(upstream, BlockingUpstream):
        upstream.close()
    db = app.settings.get("db")
    if db is not None:
        with contextlib.suppress(Exception):  # a database already gone has nothing to free
            db.close()


def async_http_client() -> httpclient.AsyncHTTPClient:
    return httpclient.AsyncHTTPClient()


def fetch_request(backend_url: str | None, ms: int, call_id: int) -> httpclient.HTTPRequest:
    if backend_url is None:
        raise UpstreamError(502, "no backend configured (start the server with --backend-url)")
    return httpclient.HTTPRequest(
        backend_url.rstrip("/") + delay_path(ms, call_id),
        connect_timeout=UPSTREAM_CONNECT_TIMEOUT_S,
        request_timeout=upstream_timeout_s(ms),
    )


def upstream_error(exc: BaseException) -> UpstreamError:
    """Map an AsyncHTTPClient failure to what the client should see."""
    if isinstance(exc, UpstreamError):
        return exc
    if isinstance(exc, (HTTPTimeoutError, TimeoutError)):
        return UpstreamError(504, "backend timed out")
    # curl_httpclient reports its timeouts as CurlError (code 599) with libcurl's errno.
    if type(exc).__name__ == "CurlError" and getattr(exc, "errno", None) == CURL_TIMED_OUT:
        return UpstreamError(504, "backend timed out")
    if isinstance(exc, httpclient.HTTPClientError) and exc.code != 599:
        return UpstreamError(502, f"backend answered {exc.code}")
    # Refused, reset, closed mid-response, DNS failure: the client sees a bad gateway.
    return UpstreamError(502, "backend unreachable")


async def fetch_upstream(
    client: httpclient.AsyncHTTPClient, backend_url: str | None, ms: int, call_id: int
) -> dict[str, Any]:
    """One non-blocking upstream call; raises UpstreamError (502/504) on any failure."""
    try:
        response = await client.fetch(fetch_request(backend_url, ms, call_id))
    except Exception as exc:
        raise upstream_error(exc) from exc
    return parse_backend_body(response.body)
