"""POST /upload: the body's length and SHA-256, with the body reaching the handler one of two
ways (the server's --upload):

- buffered: Tornado reads the whole body into memory (``self.request.body``) before ``post``
  runs; a server holds every upload in flight whole, and briefly twice (Tornado joins the
  chunks it read into one bytes object);
- streamed: ``@stream_request_body``; ``data_received`` gets each chunk as it arrives and
  hashes it, so an upload in flight holds about one chunk.

Each strategy hashes in its own style: inline on the IOLoop (sync, multiprocess, and the
awaiting strategies, whose ``data_received`` is a coroutine), or in the thread pool
(threadpool: each chunk is one job, and Tornado reads the next chunk only when the job is
done, so the chunks are hashed in order). processpool hashes on the IOLoop too: a hash's
running state cannot move between processes, and shipping every chunk through a pipe would
copy the body twice more.

A body declared larger than --max-upload-bytes is refused with a 413 when its headers arrive,
before any of it is read (the connection is then closed: a client still sending may see the
close before the answer); a chunked body past the limit is cut off by Tornado (a 400).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Awaitable
from concurrent.futures import Executor
from typing import Any

from tornado import gen, httputil, routing, web
from tornado.ioloop import IOLoop
from tornado.iostream import StreamClosedError

from catalog.limits import MAX_BODY_SIZE
from catalog.server_config import ServerConfig
from catalog.strategies import Style
from servers.config import BODY_TIMEOUT_S, UPLOAD_MIN_BYTES_PER_S
from servers.handlers import BenchHandler


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def server_body_limit(config: ServerConfig) -> int:
    """The HTTPServer's max_body_size: a buffered /upload is read whole by Tornado before any
    handler runs, so the server-wide limit must admit it; a streamed one raises the limit
    for its own request only (StreamedUpload.prepare)."""
    if config.upload == "buffered":
        return max(MAX_BODY_SIZE, config.max_upload_bytes)
    return MAX_BODY_SIZE


def server_body_timeout(config: ServerConfig) -> float:
    """The HTTPServer's body_timeout, which Tornado applies to the whole body: the fixed
    hardening timeout plus the time the largest admitted body (64 KiB unless the server
    takes uploads) needs at the slowest rate still counted as sending."""
    return BODY_TIMEOUT_S + config.max_upload_bytes / UPLOAD_MIN_BYTES_PER_S


class UploadHandler(BenchHandler):
    mode = ""

    def initialize(self, config: ServerConfig, executor: Executor | None = None, **_: Any) -> None:
        super().initialize(config)
        self.executor = executor

    def write_upload(self, length: int, digest: str) -> None:
        self.write_json({"bytes": length, "sha256": digest, "mode": self.mode, "pid": os.getpid()})


class BufferedUpload(UploadHandler):
    mode = "buffered"

    # Any: each strategy's subclass overrides it as a plain, async or generator method.
    def post(self) -> Any:
        body = self.request.body
        self.write_upload(len(body), sha256_hex(body))


class AwaitBufferedUpload(BufferedUpload):
    async def post(self) -> None:
        body = self.request.body
        self.write_upload(len(body), sha256_hex(body))


class GenBufferedUpload(BufferedUpload):
    @gen.coroutine
    def post(self) -> Any:
        body = self.request.body
        self.write_upload(len(body), sha256_hex(body))


class OffloadBufferedUpload(BufferedUpload):
    async def post(self) -> None:
        body = self.request.body
        digest = await IOLoop.current().run_in_executor(self.executor, sha256_hex, body)
        self.write_upload(len(body), digest)


@web.stream_request_body
class StreamedUpload(UploadHandler):
    mode = "streamed"

    def prepare(self) -> None:
        # This request only: the server-wide limit stays at MAX_BODY_SIZE.
        self.request.connection.set_max_body_size(self.config.max_upload_bytes)  # type: ignore[union-attr]
        self.hasher = hashlib.sha256()
        self.length = 0

    def take(self, chunk: bytes) -> None:
        self.hasher.update(chunk)
        self.length += len(chunk)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        self.take(chunk)
        return None

    def post(self) -> Any:  # overridden per strategy, as BufferedUpload.post
        self.write_upload(self.length, self.hasher.hexdigest())


class AwaitStreamedUpload(StreamedUpload):
    async def data_received(self, chunk: bytes) -> None:
        self.take(chunk)

    async def post(self) -> None:
        self.write_upload(self.length, self.hasher.hexdigest())


class GenStreamedUpload(StreamedUpload):
    @gen.coroutine
    def post(self) -> Any:
        self.write_upload(self.length, self.hasher.hexdigest())


class OffloadStreamedUpload(StreamedUpload):
    def data_received(self, chunk: bytes) -> Awaitable[None]:
        # Tornado waits for this future before it reads the next chunk: one job at a time
        # per upload, so the hash sees the chunks in order.
        return IOLoop.current().run_in_executor(self.executor, self.take, chunk)


# Each Style's handler for each way of reading the body (catalog/limits.py UPLOAD_MODES). The
# awaiting styles' data_received is a coroutine; threadpool hashes in its pool; processpool
# hashes on the IOLoop, as sync does (a hash's running state cannot move between processes,
# and shipping every chunk through a pipe would copy the body twice more).
HANDLERS: dict[Style, dict[str, type[UploadHandler]]] = {
    Style.BLOCKING: {"buffered": BufferedUpload, "streamed": StreamedUpload},
    Style.POOL: {"buffered": OffloadBufferedUpload, "streamed": OffloadStreamedUpload},
    Style.AWAITING: {"buffered": AwaitBufferedUpload, "streamed": AwaitStreamedUpload},
    Style.GENERATOR: {"buffered": GenBufferedUpload, "streamed": GenStreamedUpload},
    Style.PROCESS_POOL: {"buffered": BufferedUpload, "streamed": StreamedUpload},
}


class _TooLarge(httputil.HTTPMessageDelegate):
    """The answer to a body declared larger than the limit, sent as its headers arrive. The
    connection is taken over from Tornado (detach), so none of the body is read: Tornado's
    own refusal of an oversized body is a 400 after which it would still try to answer."""

    def __init__(self, connection: Any, limit: int) -> None:
        self.connection = connection
        self.limit = limit

    def headers_received(self, start_line: Any, headers: httputil.HTTPHeaders) -> None:
        body = f"413: the body must be at most {self.limit} bytes\n".encode()
        head = (
            "HTTP/1.1 413 Payload Too Large\r\nContent-Type: text/plain; charset=UTF-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        stream = self.connection.detach()
        try:
            written = stream.write(head + body)
        except StreamClosedError:
            return
        written.add_done_callback(lambda f: (f.exception(), stream.close()))

    def data_received(self, chunk: bytes) -> None:
        return None  # never called: the connection is detached before any body is read


class UploadRouter(routing.Router):
    """Routes /upload to the strategy's handler, or to a 413 when the declared length is
    over the limit (decided on the headers alone)."""

    def __init__(self, app: web.Application, handler: type[UploadHandler], kwargs: dict) -> None:
        self.app = app
        self.handler = handler
        self.kwargs = kwargs
        self.limit = kwargs["config"].max_upload_bytes

    def find_handler(
        self, request: httputil.HTTPServerRequest, **kwargs: Any
    ) -> httputil.HTTPMessageDelegate | None:
        declared = request.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.limit:
            return _TooLarge(request.connection, self.limit)
        return self.app.get_handler_delegate(
            request,
            self.handler,
            self.kwargs,
            kwargs.get("path_args"),
            kwargs.get("path_kwargs"),
        )


def route(app: web.Application, config: ServerConfig, style: Style, kw: dict[str, Any]) -> Any:
    """POST /upload to the handler of this Style and the server's mode (a 413 above the
    limit, decided on the headers alone)."""
    return (r"/upload", UploadRouter(app, HANDLERS[style][config.upload], kw))
