"""Work the report does beside its main line, in a forked process of its own: the hlogs read
every cell's rows again, as the summary does, and on two cores the two need not take turns.

Forked, so the work gets its arguments as they are (nothing pickled) and starts without
importing anything; it dies with the report process (catalog/lifeline.py), and what it raised
is raised again in the report process when it is waited for, as if it had run there."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

from catalog.lifeline import die_with_parent

DONE = "done"  # what the process sends when the work returned


def _run(conn: Connection, parent: int, work: Callable[..., Any], args: tuple[Any, ...]) -> None:
    die_with_parent(parent)
    try:
        work(*args)
        conn.send(DONE)
    except BaseException as exc:  # sent to the report process, raised there
        try:
            conn.send(exc)
        except Exception:  # an exception that does not pickle: its type and message
            conn.send(RuntimeError(f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


class Beside:
    """`work(*args)` running in a forked process from construction until `wait()`. Without
    two cores, it runs in `wait()` instead, in this process."""

    def __init__(self, work: Callable[..., Any], *args: Any) -> None:
        self.work, self.args = work, args
        self.process: Any = None
        self.conn: Connection | None = None
        self.inline = (os.cpu_count() or 1) < 2
        if self.inline:
            return
        context = multiprocessing.get_context("fork")
        self.conn, child = context.Pipe(duplex=False)
        self.process = context.Process(
            target=_run, args=(child, os.getpid(), work, args), daemon=True
        )
        self.process.start()
        child.close()

    def wait(self) -> None:
        """Until the work is done; what it raised is raised here."""
        if self.inline:
            self.inline = False  # run once
            self.work(*self.args)
            return
        if self.process is None or self.conn is None:
            return  # waited for already
        try:
            result = self.conn.recv()
        except EOFError:
            result = RuntimeError(f"the process for {self.work.__name__} died")
        finally:
            self.conn.close()
            self.process.join()
            self.process = None
        if isinstance(result, BaseException):
            raise result

    def cancel(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.join()
            self.process = None
        if self.conn is not None:
            self.conn.close()

    def __enter__(self) -> Beside:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cancel()
