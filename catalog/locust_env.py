"""What a Locust process the harness starts finds in its environment, said once for both sides
(harness/processes/locust.py, harness/runner.py and harness/remote_worker.py set it; loadgen/
reads it): where the project's packages are, the run's token, whether a worker was started by
the harness beside its master, and where a remote worker reports its state."""

from __future__ import annotations

import os

from catalog.paths import PROJECT_ROOT

# The run's shared secret: a master admits only workers that present it (loadgen/identity.py).
TOKEN = "BENCH_TOKEN"
# "1" in a worker the harness started on this machine for the cell (its CPU is the cell's).
LOCAL_WORKER = "BENCH_LOCAL_WORKER"
# A remote worker's state file (record/worker_state.py), read by `run_bench.py worker`.
WORKER_STATE = "BENCH_WORKER_STATE"


def locust_env(
    token: str, *, user_pythonpath: bool = False, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """This process's environment for a Locust process (or a helper of the Locust side): the
    project's packages first on its path (the plugin and loadgen/ import from there), the
    run's token, and `extra` (the names above). A user's own Locust file keeps the PYTHONPATH
    it was given, after the project's."""
    paths = [str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "") if user_pythonpath else ""]
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in paths if p),
        TOKEN: token,
        **(extra or {}),
    }
