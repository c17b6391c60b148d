"""The single local Locust process's end (loadgen/local.py): the cell's files close once,
and a second end asked for meanwhile (Locust's --run-time backstop, a SIGTERM) waits for it
instead of letting Locust exit with the records under temporary names."""

from __future__ import annotations

import gevent
import gevent.event

from loadgen.local import Once


def test_a_second_caller_returns_only_once_the_first_callers_action_ended() -> None:
    gate, said = gevent.event.Event(), []

    def close_files() -> None:
        gate.wait()  # the writer's thread still closing the files
        said.append("closed")

    once = Once(close_files)

    def quitting() -> None:
        once()
        said.append("quitting returned")

    first, second = gevent.spawn(once), gevent.spawn(quitting)
    gevent.idle()  # both ran until they wait
    assert not second.ready() and said == []
    gate.set()
    gevent.joinall([first, second], raise_error=True)
    assert said == ["closed", "quitting returned"]


def test_the_action_runs_once_however_many_ask() -> None:
    runs = []
    once = Once(lambda: runs.append(1))
    for _ in range(3):
        once()
    assert runs == [1]


def test_a_failed_or_killed_first_caller_releases_the_waiters() -> None:
    def fails() -> None:
        gevent.sleep(0)  # a waiter arrives meanwhile
        raise OSError("disk full")

    once = Once(fails)
    first = gevent.spawn(once)
    waiter = gevent.spawn(once)
    gevent.joinall([first, waiter])
    assert isinstance(first.exception, OSError) and waiter.successful()

    blocked = Once(gevent.event.Event().wait)
    first = gevent.spawn(blocked)
    waiter = gevent.spawn(blocked)
    gevent.idle()
    first.kill()
    assert waiter.get(timeout=30) is None
