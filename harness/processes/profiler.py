"""A sampling profile of the server's process tree over a cell's measured window (README,
"Profiles"): py-spy, twice side by side, each sampling every process of the tree
(`--subprocesses`: forked processes, pool workers, an app's own) from outside, without
pausing it (`--nonblocking`):

- `--idle`: every Python thread at every tick, idle ones included (the wall view: where the
  threads are, waiting or not);
- `--gil`: the thread holding the GIL at each tick (where the interpreter runs).

Beside them the kernel's clock of each thread (schedstat: time on a CPU, time runnable
waiting for one), read when the window starts and when it ends, splits each process's
threads' time into holding the GIL, waiting for it, running without it and idle
(record/profile.py).

py-spy is started through the toolkit like every child (its own session, dying with the
harness), on the other side's cores (the generator's for the server: it takes none of the
server's CPU, and its CPU is counted as the generator side's own), when the window starts;
SIGINT at the window's end makes it write what it sampled. Reading another process's memory
needs ptrace permission: root has it; an ordinary user may be refused by the kernel, and then
the run says so once and its cells go on without profiles."""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import psutil

from harness.processes import logs, procs
from record import stacks
from record.layout import CellLayout, RunLayout
from record.profile import (
    FAILED,
    GIL,
    OK,
    REFUSED,
    VIEWS,
    WALL,
    ProcessTime,
    ProfileRecord,
    ProfileSettings,
)
from record.stacks import Stack

# The roles py-spy runs as (harness/outcome.py counts its CPU as the side's own whose cores it
# runs on): beside the generator when it profiles the server, beside the server when it
# profiles the generator (calibrate --profile).
PROFILER = "profiler"
GENERATOR_PROFILER = "generator-profiler"
# py-spy's own --duration: the window and this much more, so that a py-spy never told to stop
# stops by itself (the cell's teardown stops it first).
BACKSTOP_S = 5
# After SIGINT, py-spy ends at its next tick and writes its file: milliseconds; this bounds it.
STOP_WAIT_S = 5.0
# py-spy's words when the kernel refuses it another process's memory.
REFUSED_WORDS = ("permission denied", "operation not permitted", "elevated permissions")
FLAGS = {WALL: "--idle", GIL: "--gil"}
WARNING = "warning: cannot profile the {target} ({reason}); cells run without profiles"
_warned: set[str] = set()  # one warning line per kind of failure per harness process


def warn_once(kind: str, text: str) -> None:
    if kind not in _warned:
        _warned.add(kind)
        print(text, file=sys.stderr, flush=True)


def executable() -> str | None:
    """py-spy: beside this interpreter (the venv's, where requirements.txt installs it), or on
    PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("py-spy")


def command(
    exe: str, pid: int, view: str, rate_hz: int, out: Path, span_s: float, subprocesses: bool
) -> list[str]:
    """One py-spy record of one view. Function names without line numbers (one frame per
    function: smaller files, readable graphs); full file names (the analysis tells the
    standard library, third parties and the app's own code apart by them)."""
    return [
        exe,
        "record",
        "--pid",
        str(pid),
        "--rate",
        str(rate_hz),
        "--format",
        "raw",
        "--output",
        str(out),
        "--duration",
        str(math.ceil(span_s) + BACKSTOP_S),
        "--nonblocking",
        "--threads",
        "--full-filenames",
        "--nolineno",
        FLAGS[view],
        *(["--subprocesses"] if subprocesses else []),
    ]


_ERRORS = re.compile(r"Samples: \d+ Errors: (\d+)")


def errors(log: Path) -> int:
    """The ticks py-spy could not read, as its last line says (0 when it does not say)."""
    found = _ERRORS.findall(logs.read(log))
    return int(found[-1]) if found else 0


# --- the kernel's clock of each thread ---------------------------------------------------


@dataclass(frozen=True)
class Clock:
    """A thread's time so far (seconds): on a CPU, and runnable waiting for one."""

    cpu_s: float
    runnable_s: float


def tree(pid: int) -> list[int]:
    """pid and every process below it, now."""
    try:
        root = psutil.Process(pid)
        return [pid, *(c.pid for c in root.children(recursive=True))]
    except psutil.Error:
        return []


def commands(pids: Sequence[int]) -> dict[int, str]:
    """Each process's command line, as py-spy names a process it follows."""
    out = {}
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            out[pid] = " ".join(psutil.Process(pid).cmdline())
    return out


def _schedstat(pid: int, tid: str) -> Clock | None:
    """/proc's schedstat: nanoseconds on a CPU, nanoseconds waiting on a run queue."""
    try:
        text = Path(f"/proc/{pid}/task/{tid}/schedstat").read_text()
        on_cpu, waiting = text.split()[:2]
        return Clock(int(on_cpu) / 1e9, int(waiting) / 1e9)
    except (OSError, ValueError):
        pass
    try:  # a kernel without schedstat: CPU time alone (utime + stime, in clock ticks)
        fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return Clock((int(fields[11]) + int(fields[12])) / ticks, 0.0)
    except (OSError, ValueError, IndexError):
        return None


def _inner_tid(pid: int, tid: str) -> int:
    """A thread's id as its own PID namespace numbers it (the last NSpid field): what py-spy
    names it by (Python's native thread id), while the process is known by its pid here."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    return int(tid)


def clocks(pids: Sequence[int]) -> dict[tuple[int, int], Clock]:
    """Every thread of these processes, by (pid, the thread's id in its namespace)."""
    out = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                clock = _schedstat(pid, tid)
                if clock is not None:
                    out[(pid, _inner_tid(pid, tid))] = clock
    return out


# --- each process's time ------------------------------------------------------------------


def split_time(
    wall: list[Stack],
    gil: list[Stack],
    before: dict[tuple[int, int], Clock],
    after: dict[tuple[int, int], Clock],
    span_s: float,
    lost: tuple[int, int] = (0, 0),
) -> tuple[ProcessTime, ...]:
    """Each sampled process's threads' time, four ways (record/profile.py). Per thread: its
    share of the ticks it was seen in (present), holding the GIL (its --gil samples over the
    process's ticks), running or runnable by the kernel's clock; what it ran or waited to run
    without the GIL counts as waiting for the GIL only while another thread of its process
    held it (a process with one thread never waits for it).

    lost: the ticks py-spy could not read in each view (wall, gil: the stack changed while it
    read it, which a busy interpreter's does often), spread over the processes in proportion
    to what was read: a tick lost in the --gil view had a holder all the same."""
    seen = stacks.per_thread(wall)
    held = stacks.per_thread(gil)
    info: dict[int, tuple[str, int | None]] = {}
    for s in wall:
        info.setdefault(s.pid, (s.command, s.parent))
    read = {pid: max(n for (p, _), n in seen.items() if p == pid) for pid in info}
    wall_scale = 1 + lost[0] / max(sum(read.values()), 1)
    gil_scale = 1 + lost[1] / max(sum(held.values()), 1)
    out = []
    for pid, (command_line, parent) in sorted(info.items()):
        threads = {tid: n for (p, tid), n in seen.items() if p == pid}
        ticks = read[pid]
        # The --gil sampler's ticks are not written down (a tick without a holder leaves no
        # line): as many as the wall's, read or lost, or at least its own samples.
        own = {tid: held.get((pid, tid), 0) * gil_scale for tid in threads}
        gil_ticks = max(ticks * wall_scale, sum(own.values()))
        holding = {tid: min(own[tid] / gil_ticks, n / ticks) for tid, n in threads.items()}
        total = sum(holding.values())
        if total > 1:  # two samplers' ticks: the GIL is one, whatever their jitter says
            holding = {tid: h / total for tid, h in holding.items()}
            total = 1.0
        gil_s = wait = running = idle = 0.0
        for tid, n in threads.items():
            present, h = n / ticks, holding[tid]
            ran = _runnable(before, after, pid, tid, span_s)
            without = max(0.0, min(present, ran if math.isfinite(ran) else h) - h)
            waited = min(without, max(0.0, total - h))
            gil_s += h
            wait += waited
            running += without - waited
            idle += max(0.0, present - h - without)
        cpu = _process_cpu(before, after, pid, span_s)
        out.append(
            ProcessTime(
                pid=pid,
                command=command_line,
                parent=parent,
                ticks=ticks,
                samples=sum(threads.values()),
                gil_samples=sum(n for (p, _), n in held.items() if p == pid),
                threads=sum(threads.values()) / ticks,
                gil=gil_s,
                gil_wait=wait,
                running=running,
                idle=idle,
                cpu=cpu,
            )
        )
    return tuple(out)


def _runnable(
    before: dict[tuple[int, int], Clock],
    after: dict[tuple[int, int], Clock],
    pid: int,
    tid: int,
    span_s: float,
) -> float:
    """A thread's share of the span running or runnable (NaN without its clock at the end);
    a thread born in the span counts from zero."""
    end = after.get((pid, tid))
    if end is None or span_s <= 0:
        return math.nan
    start = before.get((pid, tid), Clock(0.0, 0.0))
    return max(0.0, (end.cpu_s - start.cpu_s + end.runnable_s - start.runnable_s) / span_s)


def _process_cpu(
    before: dict[tuple[int, int], Clock],
    after: dict[tuple[int, int], Clock],
    pid: int,
    span_s: float,
) -> float:
    """The process's CPU over the span in cores, every thread of it (Python's or not)."""
    ends = {tid: c for (p, tid), c in after.items() if p == pid}
    if not ends or span_s <= 0:
        return math.nan
    used = sum(c.cpu_s - before.get((pid, tid), Clock(0.0, 0.0)).cpu_s for tid, c in ends.items())
    return max(0.0, used / span_s)


# --- one cell's profile -------------------------------------------------------------------


@dataclass
class Sampling:
    """One py-spy: the root it samples, its view, its file, its process."""

    root: int
    view: str
    out: Path
    log: Path
    child: procs.Child
    cpu_s: float = math.nan


@dataclass
class ProfileRun:
    """One cell's profile: planned at the go, started when the window starts and stopped
    when it ends, by the cell's watch loop (wait_s, step); finish writes what it sampled.
    Every py-spy it starts is handed to `started` (the cell keeps it among its children, so
    its teardown stops it whatever happens)."""

    settings: ProfileSettings
    roots: tuple[int, ...]  # the program pids whose trees are sampled
    layout: CellLayout
    cpus: tuple[int, ...]  # where py-spy runs: the other side's cores
    start_at: float  # epoch seconds
    stop_at: float
    started: Callable[[procs.Child], None]
    subprocesses: bool = True  # follow processes below the roots (they fork, or may)
    folders: tuple[str, ...] = ()  # the programs' working folders (ProfileRecord.roots)
    role: str = PROFILER
    samplings: list[Sampling] = field(default_factory=list)
    before: dict[tuple[int, int], Clock] = field(default_factory=dict)
    commands: dict[int, str] = field(default_factory=dict)  # the sampled processes' command lines
    after: dict[tuple[int, int], Clock] = field(default_factory=dict)
    began: float = math.nan
    ended: float = math.nan
    problem: tuple[str, str] | None = None  # (status, reason) once it cannot profile

    @property
    def target(self) -> str:
        return self.settings.target

    def wait_s(self, most: float) -> float:
        """How long the watch loop may wait before the next step is due (at most `most`)."""
        if self.problem is not None or math.isfinite(self.ended):
            return most
        due = self.stop_at if math.isfinite(self.began) else self.start_at
        return max(0.0, min(most, due - time.time()))

    def step(self) -> None:
        """Start or stop, when due."""
        if self.problem is not None or math.isfinite(self.ended):
            return
        now = time.time()
        if not math.isfinite(self.began):
            if now >= self.start_at:
                self._start()
        elif now >= self.stop_at:
            self._stop()

    def _start(self) -> None:
        exe = executable()
        self.began = time.time()
        if exe is None:
            self._fail(FAILED, "py-spy is not installed: pip install -r requirements.txt")
            return
        span = self.stop_at - self.began
        sampled = [pid for root in self.roots for pid in tree(root)]
        self.before = clocks(sampled)
        self.commands = commands(sampled)
        several = len(self.roots) > 1
        for i, root in enumerate(self.roots):
            for view in VIEWS:
                name = f"profiler-{view}" + (f"-{i}" if several else "")
                final = self.layout.profile_stacks(view)
                out = final.with_name(f"{final.name}.{i}") if several else final
                argv = command(exe, root, view, self.settings.rate_hz, out, span, self.subprocesses)
                log = self.layout.log(name)
                try:
                    child = procs.start(
                        name, argv, log_path=log, cpus=set(self.cpus), role=self.role
                    )
                except OSError as exc:
                    self._fail(FAILED, f"py-spy did not start: {exc.strerror or exc}")
                    return
                self.started(child)
                self.samplings.append(Sampling(root, view, out, log, child))

    def _stop(self) -> None:
        self.ended = time.time()
        self.after = clocks([pid for root in self.roots for pid in tree(root)])
        for s in self.samplings:
            with contextlib.suppress(psutil.Error):
                times = psutil.Process(s.child.pid).cpu_times()
                s.cpu_s = times.user + times.system
            with contextlib.suppress(ProcessLookupError):
                s.child.popen.send_signal(signal.SIGINT)

    def _fail(self, status: str, reason: str) -> None:
        self.problem = (status, reason)
        warn_once(status, WARNING.format(target=self.target, reason=reason))

    def finish(self) -> ProfileRecord | None:
        """Stop (if the window's end was not seen), wait for py-spy's files, and write
        profile.json and the speedscope file; the record (None: never started)."""
        if not math.isfinite(self.began):
            return None
        if not math.isfinite(self.ended):
            self._stop()
        for s in self.samplings:
            with contextlib.suppress(subprocess.TimeoutExpired):
                s.child.popen.wait(timeout=STOP_WAIT_S)
        if self.problem is None:
            self._check()
        record = self._record()
        record.write(self.layout.root)
        return record

    def _check(self) -> None:
        """Every py-spy wrote its file; else why not (the kernel's refusal, or its words)."""
        for s in self.samplings:
            if s.out.exists():
                continue
            said = logs.read(s.log)[-2000:]
            if any(w in said.lower() for w in REFUSED_WORDS):
                self._fail(REFUSED, "the kernel refused py-spy access to its memory (ptrace)")
            else:
                code = s.child.popen.returncode
                last = said.strip().splitlines()[-1] if said.strip() else "no output"
                self._fail(FAILED, f"py-spy exited with code {code}: {last}")
            return

    def _record(self) -> ProfileRecord:
        cost = [s.cpu_s for s in self.samplings if math.isfinite(s.cpu_s)]
        record = ProfileRecord(
            status=OK,
            target=self.target,
            rate_hz=self.settings.rate_hz,
            started=self.began,
            ended=self.ended if math.isfinite(self.ended) else time.time(),
            roots=self.folders,
            root_pid=self.roots[0],
            profiler_cpu_s=sum(cost) if cost else math.nan,
        )
        if self.problem is not None:
            status, reason = self.problem
            return replace(record, status=status, reason=reason)
        views = {view: self._gather(view) for view in VIEWS}
        lost = {v: sum(errors(s.log) for s in self.samplings if s.view == v) for v in VIEWS}
        record = replace(record, wall_errors=lost[WALL], gil_errors=lost[GIL])
        processes = split_time(
            views[WALL], views[GIL], self.before, self.after, record.span_s, (lost[WALL], lost[GIL])
        )
        named = tuple(
            replace(p, command=p.command or self.commands.get(p.pid, "")) for p in processes
        )
        name = f"{self.layout.root.name}: {self.target}"
        stacks.write_speedscope(self.layout.speedscope, views, name)
        return replace(record, processes=named)

    def _gather(self, view: str) -> list[Stack]:
        """One view's stacks; with several roots, their files joined into the cell's one (each
        line names its process: they were sampled with --subprocesses)."""
        mine = [s for s in self.samplings if s.view == view]
        if len(mine) == 1:
            return stacks.read(mine[0].out, mine[0].root)
        final = self.layout.profile_stacks(view)
        parts = [
            s.out.read_text(encoding="utf-8", errors="replace") for s in mine if s.out.exists()
        ]
        final.write_text("".join(parts), encoding="utf-8")
        for s in mine:
            s.out.unlink(missing_ok=True)
        return stacks.read(final)


def keep(run: RunLayout, into: Path) -> list[Path]:
    """Copy the profile files of every cell of a run folder into `into`/<cell id>/ (calibrate
    --profile: its cells' folder is removed when it ends); the folders written."""
    written = []
    for record in run.cell_records():
        cell = CellLayout(record.parent)
        if not cell.profile.exists():
            continue
        target = CellLayout(into / cell.root.name)
        target.root.mkdir(parents=True, exist_ok=True)
        for path in (cell.profile, cell.speedscope, *(cell.profile_stacks(v) for v in VIEWS)):
            if path.exists():
                shutil.copyfile(path, target.root / path.name)
        written.append(target.root)
    return written
