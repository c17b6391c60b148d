"""Handed to Locust as an extra `-f` file beside the scenario: adds the harness's options and
the raw-record machinery to whichever role this Locust process has. Defines no User class, so
it changes no workload.

- a single local process (no master): records, streams them to the cell's files and stops on
  time (loadgen/local.py);
- a master: admits workers, receives their records, stops on time (loadgen/master.py);
- a worker, local or remote: records and sends its batches to the master (loadgen/worker.py).
"""

from __future__ import annotations

import os
import time
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from catalog.fdlimit import raise_nofile
from catalog.lifeline import die_with_parent
from loadgen import local
from loadgen import stats as lean_stats
from loadgen.cpu import place_self
from loadgen.master import Master
from loadgen.options import add_bench_options
from loadgen.pacing import OpenLoop, pace
from loadgen.worker import Worker


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    add_bench_options(parser)


def _open_loop(environment: Environment, opts: Any) -> OpenLoop | None:
    """Every user class sends on the schedule (loadgen/pacing.py) instead of after answers."""
    if not opts.bench_rate > 0:
        return None
    loop = OpenLoop(
        rate=opts.bench_rate,
        users=opts.num_users or 1,
        arrivals=opts.bench_arrivals,
        clock=time.time,
    )
    for user_class in environment.user_classes:
        pace(user_class, loop, gevent.sleep)
    return loop


@events.init.add_listener
def _install(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    opts: Any = environment.parsed_options  # set by the init event, our --bench-* among them
    raise_nofile()  # each user of a long-lived scenario holds a socket
    if opts is not None:
        place_self(opts.bench_cpus)  # imported: onto the generator's cores
    if not isinstance(runner, MasterRunner):  # a process that sends requests
        lean_stats.install(environment)
    if isinstance(runner, WorkerRunner):
        if opts.processes:
            # A worker forked by its master (--processes) dies with it, even when the master
            # is SIGKILLed.
            die_with_parent(os.getppid())
        # The options that matter (rate, window, parameters) are the master's: they arrive
        # with the spawn message, so the schedule is built when the load starts.
        Worker(environment, lambda options: _open_loop(environment, options))
        return
    if opts is None or not opts.bench_out:
        return
    if isinstance(runner, MasterRunner):
        Master(environment)
    else:
        loop = _open_loop(environment, opts)
        if loop is not None:
            environment.events.test_start.add_listener(lambda **_: loop.start(time.time()))
        local.install(environment, loop)
