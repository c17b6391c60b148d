"""A long-poll client held by the hub (loadgen/held.py): one keep-alive HTTP connection that
sends its request again the moment an answer is whole, so a poll waits at the server all the
time but for a round trip. No greenlet per connection: at 10,000 connections one Locust
process re-sent polls at 1,160-1,920 a second through FastHttpUser (a greenlet, a URL
object, a request object and a header parser per poll) and held under 4,000 waiting; the
request's bytes here are built once and an answer is a head and a Content-Length slice
(loadgen/http_client.py).

`on_answer(poll, status, body, sent, arrived, error)` runs on the dispatcher's greenlet for
every answer (error None) and every failure (status 0, error set); after a failure the
connection is closed, and the owner decides when to open it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from loadgen.held import HeldSocket
from loadgen.http_client import CRLF2, HEAD_MAX_BYTES, HttpProtocolError, parse_head

OnAnswer = Callable[["LongPoll", int, bytes, float, float, BaseException | None], None]


class LongPoll(HeldSocket):
    __slots__ = ("_data", "_head_end", "_keep", "_length", "on_answer", "request", "sent_at")

    def __init__(
        self,
        host: str,
        port: int,
        request: bytes,
        on_answer: OnAnswer,
        *,
        source: str | None = None,
        connect_timeout_s: float = 60.0,
        timeout_s: float = 90.0,
    ) -> None:
        super().__init__(
            host, port, source=source, connect_timeout_s=connect_timeout_s, silence_s=timeout_s
        )
        self.request = request
        self.on_answer = on_answer
        self.sent_at = 0.0
        self._data = b""
        self._head_end = -1
        self._length = 0
        self._keep = True

    def connected(self, at: float) -> None:
        self.opening_done()
        self._send()

    def _send(self) -> None:
        # Stamped as it leaves, not when the answer before it arrived: the dispatcher may
        # have had others' answers to handle in between.
        self.sent_at = time.time()
        self._data, self._head_end = b"", -1
        self.write(self.request)

    def received(self, data: bytes, at: float) -> None:
        data = self._data + data if self._data else data
        if self._head_end < 0:
            end = data.find(CRLF2)
            if end < 0:
                if len(data) > HEAD_MAX_BYTES:
                    self.fail(HttpProtocolError("an answer's head without end"), at)
                else:
                    self._data = data
                return
            try:
                status, length, chunked, keep = parse_head(data[:end])
            except HttpProtocolError as exc:
                self.fail(exc, at)
                return
            if chunked or length is None:
                # /poll always answers with a Content-Length (Tornado's finish()).
                self.fail(HttpProtocolError("a poll's answer without Content-Length"), at)
                return
            self._head_end, self._length, self._keep = end + 4, length, keep
        if len(data) < self._head_end + self._length:
            self._data = data
            return
        status = int(data[9:12])
        body = data[self._head_end : self._head_end + self._length]
        self._data = b""
        self.on_answer(self, status, body, self.sent_at, at, None)
        if self.sock is None:  # the owner closed it meanwhile
            return
        if not self._keep:
            self.release()
            self.open()
            return
        self._send()

    def ended(self, exc: BaseException, at: float) -> None:
        self.on_answer(self, 0, b"", self.sent_at, at, exc)
