"""LeanHttpUser: the built-in request scenarios' Locust user, on the lean client of
loadgen/http_client.py. Its `client.get(path, name=..., catch_response=True)` is the subset of
FastHttpUser's that the scenarios use (a with-block, `status_code`, `content`, `headers`,
`success()`, `failure()`), so a scenario changes only its base class; each request is still
one Locust request event, which Locust's statistics and the recorder (loadgen/recorder.py)
both see, so records and Locust's own count still reconcile. The context a user gives
(`User.context`: an open loop's slot, loadgen/pacing.py) travels with the event as before.

A user's own Locust file keeps whatever client it has: this user is for the built-in
scenarios, whose paths are plain GETs with no cookies, redirects or bodies to send.
"""

from __future__ import annotations

import time
from typing import Any

from locust import User
from locust.exception import CatchResponseError, ResponseError, StopTest

from loadgen.http_client import Connection, Head, HttpProtocolError, Target, request_bytes

# FastHttpUser's defaults, kept: a poll waits up to a minute.
NETWORK_TIMEOUT_S = 60.0
CONNECT_TIMEOUT_S = 60.0


class HttpStatusError(ResponseError):
    """An answer with a status of 400 or more that the scenario did not judge itself."""


class _Bodiless:
    """The request behind a LeanResponse, as the recorder asks it (loadgen/recorder.py
    body_bytes): the lean client sends no request body."""

    body = None


class LeanResponse:
    """One answer, and the request event it becomes: fired when the with-block ends (or at
    once without catch_response), with the verdict `success()` or `failure()` gave, else the
    status's (400 and above fail, as FastHttpUser's do)."""

    request = _Bodiless()  # a class attribute: nothing per answer

    __slots__ = (
        "_event",
        "_judged",
        "content",
        "context",
        "error",
        "head",
        "name",
        "request_type",
        "response_time",
        "start_time",
        "status_code",
    )

    def __init__(
        self,
        event: Any,
        request_type: str,
        name: str,
        start_time: float,
        response_time: float,
        context: dict[str, Any],
        head: Head | None,
        content: bytes,
        error: Exception | None,
    ) -> None:
        self._event = event
        self.request_type = request_type
        self.name = name
        self.start_time = start_time
        self.response_time = response_time
        self.context = context
        self.head = head
        self.status_code = head.status if head is not None else 0
        self.content = content
        self.error = error
        self._judged = False

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    @property
    def headers(self) -> dict[str, str]:
        """The answer's headers, lower-case names (parsed on first use only)."""
        return self.head.headers() if self.head is not None else {}

    def success(self) -> None:
        self.error, self._judged = None, True

    def failure(self, message: object) -> None:
        error = message if isinstance(message, Exception) else CatchResponseError(str(message))
        self.error, self._judged = error, True

    def report(self) -> None:
        self._event.fire(
            request_type=self.request_type,
            name=self.name,
            response_time=self.response_time,
            response_length=len(self.content),
            response=self,
            exception=self.error,
            start_time=self.start_time,
            context=self.context,
        )

    def __enter__(self) -> LeanResponse:
        return self

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> bool:
        if value is not None and not self._judged:
            # The block raised: the request is recorded as failed with it, then it goes on
            # up (Locust logs a task's error and runs the next task).
            self.error = value if isinstance(value, Exception) else self.error
        self.report()
        return value is None or isinstance(value, ResponseError)


class LeanSession:
    """A user's client: its keep-alive connection and the request bytes of each path it sent
    (built once)."""

    def __init__(self, user: User, target: Target) -> None:
        self.user = user
        self.event = user.environment.events.request
        self.connection = Connection(
            target,
            timeout_s=float(getattr(user, "network_timeout", NETWORK_TIMEOUT_S)),
            connect_timeout_s=float(getattr(user, "connection_timeout", CONNECT_TIMEOUT_S)),
        )
        self._requests: dict[tuple[str, str], bytes] = {}

    def request(
        self, method: str, path: str, *, name: str | None = None, catch_response: bool = False
    ) -> LeanResponse:
        wire = self._requests.get((method, path))
        if wire is None:
            wire = self._requests[(method, path)] = request_bytes(
                method, path, self.connection.target
            )
        # Asked as the request starts: an open loop's context notes its send (pacing.py).
        context = self.user.context()
        start_time = time.time()
        started = time.perf_counter()
        head: Head | None = None
        body = b""
        error: Exception | None = None
        try:
            head, body = self.connection.exchange(wire)
        except (OSError, HttpProtocolError) as exc:  # refused, reset, timed out, garbled
            error = exc
        elapsed = (time.perf_counter() - started) * 1000.0
        if head is not None and head.status >= 400:
            error = HttpStatusError(f"{head.status} for {path}")
        response = LeanResponse(
            self.event, method, name or path, start_time, elapsed, context, head, body, error
        )
        if not catch_response:
            response.report()
        return response

    def get(self, path: str, *, name: str | None = None, catch_response: bool = False) -> Any:
        return self.request("GET", path, name=name, catch_response=catch_response)

    def close(self) -> None:
        self.connection.close()


class LeanHttpUser(User):
    """A Locust user whose `client` is a LeanSession on Locust's --host (plain http)."""

    abstract = True
    network_timeout = NETWORK_TIMEOUT_S
    connection_timeout = CONNECT_TIMEOUT_S

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        if self.host is None:
            raise StopTest("no host: give --host (the harness always does)")
        self.client = LeanSession(self, Target.of(self.host))

    def on_stop(self) -> None:
        self.client.close()
