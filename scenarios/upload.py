"""POST /upload: a body of --bytes sent in pieces of --chunk with chunked transfer encoding,
each piece a view of one shared block, so that a Locust process holds one chunk per upload
in flight, not the body. The answer must carry the body's length and SHA-256."""

import json
from functools import lru_cache
from typing import Any

from locust import FastHttpUser, constant, events, task

from catalog.payloads import upload_block, upload_digest, upload_pieces
from loadgen.checks import add_option
from loadgen.users import BYTES_SENT


@events.init_command_line_parser.add_listener
def add_upload_options(parser: Any) -> None:
    add_option(parser, "--bytes", type=int, default=1024 * 1024, help="/upload: body bytes")
    add_option(parser, "--chunk", type=int, default=64 * 1024, help="/upload: bytes per piece")


@lru_cache(maxsize=4)
def shared(total: int, chunk: int) -> tuple[bytes, str]:
    """The block and the expected digest: computed once per process, shared by every user."""
    return upload_block(chunk), upload_digest(total, chunk)


class UploadUser(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        opts = self.environment.parsed_options
        self.total, self.chunk = opts.bytes, opts.chunk
        self.block, self.digest = shared(self.total, self.chunk)

    @task
    def upload(self) -> None:
        body = upload_pieces(self.total, self.chunk, self.block)
        # An iterator of pieces is sent chunked by geventhttpclient; Locust's hint says str.
        post = self.client.post
        sent = {BYTES_SENT: self.total}  # the streamed body's size (the recorder cannot count it)
        with post("/upload", data=body, name="/upload", catch_response=True, context=sent) as resp:  # type: ignore[arg-type]
            if resp.status_code != 200:
                resp.failure(f"status {resp.status_code}")
                return
            try:
                answer = json.loads(resp.content)
            except ValueError:
                resp.failure("body is not JSON")
                return
            if answer.get("bytes") != self.total:
                resp.failure(f"server counted {answer.get('bytes')} bytes, sent {self.total}")
            elif answer.get("sha256") != self.digest:
                resp.failure("wrong SHA-256")
            else:
                resp.success()
