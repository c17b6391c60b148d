"""Handed to Locust as an extra `-f` file beside the scenario: adds the harness's options, the
raw-record recorder and an exact stop. Defines no User class, so it changes no workload.

The stop: Locust's --run-time takes whole seconds only (3.5 s becomes 4 s), so the plugin quits
the runner itself at warm-up + duration + tail after the test starts; --run-time stays on the
command line only as a backstop.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from loadgen.options import add_bench_options
from loadgen.pacing import OpenLoop, pace
from loadgen.recorder import Recorder
from servers.lifeline import die_with_parent


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    add_bench_options(parser)


def _planned_s(environment: Environment) -> float:
    opts = environment.parsed_options
    return opts.bench_warmup + opts.bench_duration + opts.bench_tail


def _open_loop(environment: Environment, is_worker: bool) -> OpenLoop:
    """Every user class sends on the schedule (loadgen/pacing.py) instead of after answers."""
    opts = environment.parsed_options
    runner = environment.runner
    loop = OpenLoop(
        rate=opts.bench_rate,
        users=opts.num_users,
        arrivals=opts.bench_arrivals,
        processes=max(1, opts.processes or 1) if is_worker else 1,
        clock=time.time,
    )
    for user_class in environment.user_classes:
        pace(user_class, loop, gevent.sleep)

    def start(**_: Any) -> None:
        loop.process_index = int(runner.worker_index) if is_worker else 0
        loop.start(time.time())

    environment.events.test_start.add_listener(start)
    return loop


@events.init.add_listener
def _install(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner) and environment.parsed_options.processes:
        # A worker forked by its master (--processes) dies with it, even when the master is
        # SIGKILLed: no worker keeps loading a server after its master is gone.
        die_with_parent(os.getppid())
    opts = environment.parsed_options
    if opts is None or not opts.bench_out:
        return
    if not isinstance(runner, MasterRunner):  # requests happen on workers or a local runner
        is_worker = isinstance(runner, WorkerRunner)
        recorder = Recorder(worker=lambda: int(runner.worker_index) if is_worker else None)

        loop = _open_loop(environment, is_worker) if opts.bench_rate > 0 else None

        def write(**_: Any) -> None:
            if loop is not None and not recorder.written:
                recorder.unanswered(loop.due(time.time()), dict(loop.latest.values()))
            recorder.write(Path(opts.bench_out), opts.bench_warmup, opts.bench_duration)

        environment.events.test_start.add_listener(recorder.on_test_start)
        environment.events.request.add_listener(recorder.on_request)
        environment.events.test_stop.add_listener(write)
        environment.events.quitting.add_listener(write)
    if not isinstance(runner, WorkerRunner):

        def stop_on_time(**_: Any) -> None:
            gevent.spawn_later(_planned_s(environment), runner.quit)

        environment.events.test_start.add_listener(stop_on_time)
