"""Locust users that are one long-lived connection each, held by the hub instead of a greenlet
(loadgen/held.py): the built-in ws-feed and poll scenarios.

Locust still counts, spawns, dispatches (across workers) and stops them as users: a cell's
users are its connections, opened at its spawn rate. But such a user runs no task: `start`
puts in Locust's group of user greenlets a greenlet that is never started (what Locust counts
and kills; an unstarted greenlet costs its object, not a stack), and opens the connection;
`stop` closes it. Every record is still one Locust request event (handshake, message, poll
answer), fired on the process's dispatcher greenlet, so Locust's count and the records agree
as for any other user.

A connection that fails (refused, reset, closed by the server, silent too long, bytes that are
no WebSocket) is one failed record; it is opened again RETRY_AFTER_S later, as the
websocket-client user did.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import gevent
from gevent.greenlet import Greenlet
from gevent.pool import Group
from locust import User, constant, events, task

from catalog.fdlimit import loopback_source
from loadgen import held
from loadgen.http_client import Target, request_bytes
from loadgen.longpoll import LongPoll
from loadgen.wsclient import WebSocketClient, endpoint_for

RETRY_AFTER_S = 1.0
WS = "WS"
_CONNECTIONS = itertools.count()  # this process's connections, for their source addresses


def _never(user: Any) -> None:
    raise AssertionError("a held user's placeholder greenlet is never started")


# Everything read before the load stopped is handled before the records close. (Listeners of
# the scenario's imports come before the plugin's, whose test_stop closes the records; each
# user's stop drains first too, before its socket closes.)
events.test_stop.add_listener(lambda **_: held.drain())


class HeldUser(User):
    """A user that is one connection, opened when Locust spawns it and closed when Locust stops
    it. Subclasses open (`open_held`) and close (`close_held`) it."""

    abstract = True
    wait_time = constant(0)
    status_code = 0  # the status a record's response carries (the recorder reads it)

    @task
    def held(self) -> None:  # never runs: the connection lives on the hub
        raise AssertionError("a held user runs no task")

    def start(self, group: Group) -> Greenlet:
        placeholder = Greenlet(_never, self)
        self._greenlet, self._group = placeholder, group
        group.add(placeholder)
        self._retry: Any = None
        self.open_held()
        return placeholder

    def stop(self, force: bool = False) -> bool:
        held.drain()  # what arrived before the stop, recorded while the socket is still known
        if self._retry is not None:
            self._retry.stop()
            self._retry = None
        self.close_held()
        self._group.killone(self._greenlet, block=False)
        return True

    def retry_later(self) -> None:
        """Open the connection again RETRY_AFTER_S from now (a timer on the hub)."""
        if self._retry is None:
            self._retry = gevent.get_hub().loop.timer(RETRY_AFTER_S)
        self._retry.stop()
        self._retry.start(self._reopen)

    def _reopen(self) -> None:
        gevent.spawn(self.open_held)  # off the hub: opening may record a failure at once

    def fire(
        self,
        name: str,
        response_time: float,
        length: int,
        exception: BaseException | None,
        start_time: float,
        request_type: str = WS,
    ) -> None:
        self.environment.events.request.fire(
            request_type=request_type,
            name=name,
            response_time=response_time,
            response_length=length,
            response=self,
            exception=exception,
            start_time=start_time,
            context={},
        )

    def option(self, name: str) -> Any:
        return getattr(self.environment.parsed_options, name)

    def open_held(self) -> None:
        raise NotImplementedError

    def close_held(self) -> None:
        raise NotImplementedError


class WebSocketSubscriber(HeldUser):
    """One WebSocket that only receives: its handshake is a record `<endpoint>:connect` (the
    time to its 101), each message goes to `delivered(payload, arrived)`. Subclasses set
    `path` (with its query) and may set `max_message_bytes` and `silence_s` in `configure`."""

    abstract = True
    endpoint = ""  # the records' name: the path without its query
    path = ""
    max_message_bytes = 64 * 1024
    silence_s: float | None = None

    def configure(self) -> None:
        """Read the scenario's options (called once, before the first connect)."""

    def open_held(self) -> None:
        client: WebSocketClient | None = getattr(self, "client", None)
        if client is None:
            self.configure()
            host = self.host or ""
            client = self.client = WebSocketClient(
                endpoint_for(host, self.path),
                on_open=self._opened,
                on_message=self._message,
                on_close=self._closed,
                max_message_bytes=self.max_message_bytes,
                source=loopback_source(Target.of(host).host, next(_CONNECTIONS)),
                silence_s=self.silence_s,
            )
        client.open()

    def close_held(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()

    def _opened(self, client: WebSocketClient, error: BaseException | None) -> None:
        self.fire(f"{self.endpoint}:connect", client.opened_ms, 0, error, client.started_at)
        if error is not None:
            self.retry_later()

    def _message(self, client: WebSocketClient, opcode: int, payload: bytes, at: float) -> None:
        self.delivered(payload, at)

    def _closed(self, client: WebSocketClient, exc: BaseException, at: float) -> None:
        self.fire(self.endpoint, 0.0, 0, exc, at)
        self.retry_later()

    def delivered(self, payload: bytes, arrived: float) -> None:
        raise NotImplementedError


class LongPollUser(HeldUser):
    """One long-poll: each answer is a record `endpoint` (request type GET) whose latency is the
    wait from the poll's send to its whole answer; `judge(status, body)` says what is wrong
    with an answer (None: nothing)."""

    abstract = True
    endpoint = ""  # the records' name: the path without its query
    path = ""
    timeout_s = 90.0

    def configure(self) -> None:
        """Read the scenario's options (called once, before the first connect)."""

    def judge(self, status: int, body: bytes) -> Exception | None:
        raise NotImplementedError

    def open_held(self) -> None:
        poll: LongPoll | None = getattr(self, "poll", None)
        if poll is None:
            self.configure()
            target = Target.of(self.host or "")
            poll = self.poll = LongPoll(
                target.host,
                target.port,
                request_bytes("GET", self.path, target),
                self._answer,
                timeout_s=self.timeout_s,
            )
        poll.open()

    def close_held(self) -> None:
        poll = getattr(self, "poll", None)
        if poll is not None:
            poll.release()

    def _answer(
        self,
        poll: LongPoll,
        status: int,
        body: bytes,
        sent: float,
        arrived: float,
        error: BaseException | None,
    ) -> None:
        self.status_code = status
        elapsed = (arrived - sent) * 1000.0 if sent else 0.0
        if error is None:
            error = self.judge(status, body)
            self.fire(self.endpoint, elapsed, len(body), error, sent, "GET")
            return
        self.fire(self.endpoint, elapsed, 0, error, sent or time.time(), "GET")
        self.retry_later()
