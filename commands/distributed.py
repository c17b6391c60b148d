"""The command line of distributed load: `run`'s options for workers, and the `worker` and
`calibrate` commands (run_bench.py adds them to its parser)."""

from __future__ import annotations

import argparse
from typing import Any

from commands.types import positive_float, positive_int
from harness.hosts import require_loopback
from harness.processes.locust_cmd import Distribution
from record.errors import UserError

DEFAULT_WORKER_TIMEOUT_S = 60.0

DISTRIBUTED_HELP = """\
Load from several machines (Locust's master/worker mode):
  this machine:   run_bench.py run SUITE --remote-workers 1 --master-bind 0.0.0.0 \\
                    --master-port 5557 --server-host 192.0.2.10 --token T
  other machine:  run_bench.py worker --master 192.0.2.10:5557 --token T
The firewall must let the workers reach the master port and the servers' ports."""


def add_run_options(run: Any) -> None:
    group = run.add_argument_group("load from several processes or machines")
    group.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="Locust processes per cell on this machine (default 1; more than 1 runs Locust's "
        "master/worker mode)",
    )
    group.add_argument(
        "--remote-workers",
        type=int,
        default=0,
        metavar="K",
        help="wait in every cell for K workers started elsewhere with `run_bench.py worker`",
    )
    group.add_argument(
        "--master-bind",
        default="127.0.0.1",
        metavar="ADDR",
        help="address the Locust master listens on (default 127.0.0.1; another address "
        "needs --allow-remote)",
    )
    group.add_argument(
        "--master-port", type=int, default=0, metavar="PORT", help="master port, fixed for the run"
    )
    group.add_argument(
        "--server-host",
        default="127.0.0.1",
        metavar="ADDR",
        help="address the servers under test bind and are loaded on (default 127.0.0.1; "
        "another address needs --allow-remote)",
    )
    group.add_argument(
        "--worker-timeout",
        type=positive_float,
        default=DEFAULT_WORKER_TIMEOUT_S,
        metavar="S",
        help="seconds a cell waits for its workers to join (default 60)",
    )
    group.add_argument(
        "--token", help="the token workers must present (default: a new one per run, printed)"
    )


def distribution_from(args: argparse.Namespace) -> Distribution:
    if args.remote_workers < 0:
        raise UserError("--remote-workers must be 0 or more")
    if not 0 <= args.master_port < 65536:
        raise UserError("--master-port must be a port number (1-65535), or 0 for a free one")
    for flag, addr in (("--master-bind", args.master_bind), ("--server-host", args.server_host)):
        require_loopback(flag, addr, args.allow_remote, "listen there")
    return Distribution(
        local_workers=args.workers,
        remote_workers=args.remote_workers,
        master_bind=args.master_bind,
        master_port=args.master_port,
        worker_timeout_s=args.worker_timeout,
        token=args.token or "",
        server_host=args.server_host,
    )


def cmd_worker(args: argparse.Namespace) -> int:
    from harness.remote_worker import serve

    return serve(args.master, args.token, args.processes, args.worker_timeout)


def add_commands(sub: Any) -> None:
    worker = sub.add_parser(
        "worker",
        help="generate load for a run on another machine",
        description="Join every cell of a run as Locust workers, from this checkout's scenario "
        "files, until the run's master has been unreachable for --worker-timeout seconds. "
        "Writes nothing into the run's results.",
        epilog=DISTRIBUTED_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    worker.add_argument("--master", required=True, metavar="HOST:PORT", help="the run's master")
    worker.add_argument("--token", help="the run's token (or TORNADO_BENCH_TOKEN)")
    worker.add_argument(
        "--processes", type=positive_int, default=1, help="Locust workers to run here (default 1)"
    )
    worker.add_argument(
        "--worker-timeout",
        type=positive_float,
        default=DEFAULT_WORKER_TIMEOUT_S,
        metavar="S",
        help="exit when the master has been unreachable this long (default 60)",
    )
    worker.set_defaults(func=cmd_worker)
