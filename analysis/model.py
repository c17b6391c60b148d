"""What each strategy should achieve at best: the asymptotic bound of operational analysis.

A closed loop of U users with zero think time obeys Little's law, X = U / R, so with a minimum
response time R_min and C servers of service time S: X <= min(U / R_min, C / S)
(Denning & Buzen 1978; Lazowska et al., Quantitative System Performance, ch. 5).
"""

from __future__ import annotations

import math

from catalog import strategies, workloads

# /db?query=sleep (a POOL_BOUND workload): a wait like /sleep, but a waiting request holds a
# database connection, so the C of the wait bound is also capped by the connections (Little's
# law, X = C / R_min, with C = min(the strategy's wait concurrency, its pool)). Only the
# awaiting strategies share a pool (the suite's `pool`, default workloads.DEFAULT_DB_POOL);
# the others hold one connection per thread or process, which their wait concurrency already
# counts. The kind of each workload is asked of catalog/workloads.py.


def min_response_s(strategy: str, scenario: str, params: dict[str, int]) -> float:
    """R_min for the wait scenarios: the simulated wait itself; a fan-out waits for its calls
    one after another unless the strategy awaits them together."""
    work = workloads.facts(scenario)
    if work is None or not work.waits:
        return math.nan
    calls = work.calls(params)
    if work.fanout_param:
        facts = strategies.facts(strategy)
        calls = facts.fanout_calls(calls) if facts is not None else calls
    return calls * params["ms"] / 1000.0


def expected_rps(
    *,
    strategy: str,
    scenario: str,
    params: dict[str, int],
    users: int,
    threads: int,
    processes: int,
    cores: int,
    service_s: float | None = None,
    window_s: float | None = None,
) -> float:
    """The model's upper bound on req/s for one cell, or NaN where the model has no answer
    (a user's own target, the mixed workload, a zero wait). service_s is the server's CPU
    demand per request: the whole bound for CPU scenarios, a cap for wait scenarios;
    window_s the measured window, which bounds a long-poll's answers per user."""
    if strategies.facts(strategy) is None:  # a user's own server: its strategy is unknown
        return math.nan
    work = workloads.kind(scenario)
    if workloads.is_wait(scenario):
        r_min = min_response_s(strategy, scenario, params)
        if not r_min > 0:
            return math.nan
        concurrency = strategies.wait_concurrency(
            strategy, users=users, threads=threads, processes=processes
        )
        facts = strategies.facts(strategy)
        if work == workloads.POOL_BOUND and facts is not None and facts.waits == strategies.AWAITS:
            concurrency = min(concurrency, params.get("pool", workloads.DEFAULT_DB_POOL))
        bound = concurrency / r_min
        if service_s is not None and service_s > 0:
            # "until the CPU saturates": the same requests also cost CPU in the server.
            bound = min(
                bound,
                strategies.cpu_parallelism(strategy, users=users, processes=processes, cores=cores)
                / service_s,
            )
        return bound
    live = workloads.live(scenario)
    if live:
        return live_bound(
            strategy,
            live,
            params,
            users=users,
            threads=threads,
            processes=processes,
            cores=cores,
            service_s=service_s,
            window_s=window_s,
        )
    if work == workloads.CPU:
        if service_s is None or not service_s > 0:
            return math.nan
        parallel = strategies.cpu_parallelism(
            strategy, users=users, processes=processes, cores=cores
        )
        return min(users, parallel) / service_s
    return math.nan


def live_bound(
    strategy: str,
    live: str,
    params: dict[str, int],
    *,
    users: int,
    threads: int,
    processes: int,
    cores: int,
    service_s: float | None,
    window_s: float | None = None,
) -> float:
    """Messages (feed, echo) or answers (poll) per second at most, for N = users connections:

    - ws-feed: each connection gets one message per interval I: X <= N / I, and a broadcast
      to N subscribers costs N x the per-message CPU S, so X <= C / S (utilization law, C the
      processes that can burn CPU at once): delivery latency grows with N once N / I nears C / S;
    - ws-echo: each connection sends one message per I plus the echo's work D, and the work
      holds one of the strategy's wait slots (sync 1 per process, threadpool T, awaiting N):
      X <= min(N / (I + D), slots / D), capped by C / S;
    - poll: a waiting poll holds a wait slot until the next event (at most I) or its timeout
      T, and each slot answers at most once per min(I, T): X <= min(N, slots) / min(I, T);
      a thread pool also answers the polls that expired in its queue, one per user per T at
      most: + (N - slots) / T. Capped by C / S. Over a window W that is not many times T,
      a user whose polls are T apart still answers ceil(W / T) times in it, not W / T: the
      connections open together, so their expiries come in bursts, and a 4 s window can
      hold one from every user with T = 5 s. The bound counts per window when W is given.
    """
    interval = params["interval_ms"] / 1000.0
    slots = strategies.wait_concurrency(strategy, users=users, threads=threads, processes=processes)
    if strategies.process_pool(strategy):
        slots = users  # its long-lived endpoints wait on the IOLoop (servers/processpool.py)
    if live == workloads.LIVE_FEED:
        bound = users / interval
    elif live == workloads.LIVE_ECHO:
        work = params["ms"] / 1000.0
        bound = users / (interval + work)
        if work > 0:
            bound = min(bound, slots / work)
    else:
        timeout = params["timeout_ms"] / 1000.0
        bound = min(users, slots) * _per_second(min(interval, timeout), window_s)
        facts = strategies.facts(strategy)
        if facts is not None and facts.waits == strategies.POOL and users > slots:
            # Polls queued behind busy threads keep their deadline and, once it has passed,
            # are answered 204 as soon as a thread takes them: at most one per user per T.
            bound += (users - slots) * _per_second(timeout, window_s)
    if service_s is not None and service_s > 0:
        parallel = strategies.cpu_parallelism(
            strategy, users=users, processes=processes, cores=cores
        )
        bound = min(bound, parallel / service_s)
    return bound


def _per_second(cycle_s: float, window_s: float | None) -> float:
    """How often per second one user can be answered when its answers are at least cycle_s
    apart: 1 / cycle_s in the long run, ceil(W / cycle_s) / W within a window of W seconds
    (events on a fixed grid, or a burst of expiries, can fill every cycle the window
    touches)."""
    if window_s is None or not window_s > 0:
        return 1.0 / cycle_s
    return math.ceil(window_s / cycle_s - 1e-9) / window_s


def cpu_capacity_rps(*, strategy: str, processes: int, cores: int, service_s: float) -> float:
    """For a server whose strategy the model does not know (a user's app): what its CPU alone
    would allow, by the utilization law, X <= C / S, with S its measured CPU seconds per
    request and C the cores it may use (its processes_hint, at most the cores it was given).
    A ceiling, not a prediction: waits, locks or the GIL may hold it far below. NaN for a
    built-in strategy (its bound, expected_rps, already includes C / S) and where S was not
    measured."""
    if strategies.facts(strategy) is not None or not service_s > 0:
        return math.nan
    return max(1, min(processes, cores)) / service_s
