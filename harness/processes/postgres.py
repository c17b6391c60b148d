"""The database of the db scenarios: a throwaway PostgreSQL per cell, or the user's own.

A throwaway one is `initdb` into a fresh temp folder, then `postgres` on a free loopback port
(and a unix socket inside that folder), started like every other child of the harness (harness/processes/procs.py): in a
session and a PID namespace of its own, dying with the harness, stopped by group. Its tables
are seeded before the server starts. Stopping it (a normal end, Ctrl-C, a failed cell: the
cell's teardown stops every child) also deletes its folder. A folder left by a harness that
was SIGKILLed (its processes die with it; a folder cannot) is deleted by the next start.

PostgreSQL refuses to run as root, so as root both run as an unprivileged user (`postgres`
when the system has one, else `nobody`), which owns the temp folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from catalog.limits import DB_URL_SCHEMES
from harness.hosts import require_loopback
from harness.processes import logs, procs
from record.errors import UserError, first_line

# Where Debian-like systems install the binaries (initdb is not on PATH there).
SEARCH_DIRS = ("/usr/lib/postgresql/*/bin",)
INSTALL_HINT = "install it with `apt-get install postgresql`"
MISSING = (
    "PostgreSQL is not installed (initdb and postgres not found on PATH or in "
    f"{', '.join(SEARCH_DIRS)}): {INSTALL_HINT}, or give --db-url postgresql://..."
)
DIR_PREFIX = "tornado-bench-pg-"
OWNER_FILE = "harness.pid"
USER = "bench"  # the database superuser initdb creates (trust auth, loopback only)
DBNAME = "postgres"
READY_TIMEOUT_S = 20.0
INITDB_TIMEOUT_S = 60.0
SHUTDOWN_S = 5.0  # a fast shutdown (SIGINT) takes well under a second
CONNECT_TIMEOUT_S = 3
UNPRIVILEGED = ("postgres", "nobody")


@dataclass(frozen=True)
class Binaries:
    initdb: str
    postgres: str


def find_binaries() -> Binaries | None:
    """initdb and postgres: on PATH (postgres beside initdb when it is not on PATH itself),
    else in the newest of SEARCH_DIRS; None when they are missing."""
    initdb = shutil.which("initdb")
    if initdb is not None:
        beside = Path(os.path.realpath(initdb)).parent / "postgres"
        postgres = shutil.which("postgres") or (str(beside) if beside.is_file() else None)
        if postgres is not None:
            return Binaries(initdb, postgres)
    found = sorted(
        (d for pattern in SEARCH_DIRS for d in glob.glob(pattern)),
        key=lambda d: [int(p) if p.isdigit() else 0 for p in Path(d).parent.name.split(".")],
    )
    for folder in reversed(found):
        init_bin, server_bin = Path(folder) / "initdb", Path(folder) / "postgres"
        if init_bin.is_file() and server_bin.is_file():
            return Binaries(str(init_bin), str(server_bin))
    return None


def missing_reason() -> str | None:
    """Why throwaway databases cannot be started here (one line), or None."""
    return MISSING if find_binaries() is None else None


def run_as() -> pwd.struct_passwd | None:
    """The unprivileged user PostgreSQL runs as when the harness is root (else None)."""
    if os.geteuid() != 0:
        return None
    for name in UNPRIVILEGED:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root, and no unprivileged user (postgres, nobody) to run as")


def _start(
    name: str, argv: list[str], log_path: Path | None, cwd: Path, cpus: set[int] | None
) -> procs.Child:
    """Start argv as the harness starts every child, as the unprivileged user when root."""
    env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
    return procs.start(
        name, argv, log_path=log_path, env=env, cwd=cwd, cpus=cpus, run_as=run_as(), contain=True
    )


@dataclass
class Database(procs.Child):
    """A throwaway PostgreSQL: stopping it stops the server and deletes its folder."""

    folder: Path = Path()
    url: str = ""

    @classmethod
    def adopt(cls, child: procs.Child, folder: Path, url: str) -> Database:
        fields = {f.name: getattr(child, f.name) for f in dataclasses.fields(procs.Child)}
        return cls(**fields, folder=folder, url=url)

    def stop(self, grace_s: float = procs.TERM_GRACE_S) -> int | None:
        # SIGINT is PostgreSQL's fast shutdown (SIGTERM would wait for clients to leave).
        if self.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=SHUTDOWN_S)
        try:
            return super().stop(grace_s)
        finally:
            remove_folder(self.folder)

    def kill(self) -> None:
        try:
            super().kill()
        finally:
            remove_folder(self.folder)


def remove_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def _owner_alive(folder: Path) -> bool:
    try:
        pid = int((folder / OWNER_FILE).read_text())
    except (OSError, ValueError):
        # No owner written yet: a folder being made right now, unless it is old.
        try:
            return time.time() - folder.stat().st_mtime < 600
        except OSError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_folders() -> list[Path]:
    """Delete the folders of throwaway databases whose harness is gone (it was SIGKILLed:
    the database died with it, its folder stayed)."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(DIR_PREFIX + "*"):
        if folder.is_dir() and not _owner_alive(folder):
            remove_folder(folder)
            removed.append(folder)
    return removed


def connect(url: str, timeout: float = CONNECT_TIMEOUT_S) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(timeout)))


def seed(url: str) -> None:
    """The tables the db scenarios read and write, and TechEmpower's World and Fortune
    (idempotent)."""
    from catalog import techempower
    from catalog.db import SCHEMA_SQL

    with connect(url) as conn:
        conn.execute(SCHEMA_SQL)
        conn.execute(techempower.SCHEMA_SQL)


def _wait_ready(url: str, child: procs.Child, log_path: Path | None) -> None:
    """Until postgres accepts a connection; RuntimeError with its log's last words if not."""
    import psycopg

    def accepts() -> None:
        try:
            with connect(url, timeout=1):
                return
        except psycopg.OperationalError as exc:
            raise procs.NotYet(first_line(exc, "refused")) from None

    try:
        procs.poll_until(accepts, child, READY_TIMEOUT_S, "postgres did not accept connections")
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}: {_tail(log_path)}") from None


def _tail(log_path: Path | None) -> str:
    return logs.tail(log_path) if log_path is not None else ""


def _initdb(binaries: Binaries, data: Path, log_path: Path | None, cpus: set[int] | None) -> None:
    """A new cluster in `data`; RuntimeError with initdb's last words when it fails."""
    initdb = _start(
        "initdb",
        [binaries.initdb, "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8",
         "--no-locale", "--no-sync"],
        log_path, data.parent, cpus,
    )  # fmt: skip
    try:
        code = initdb.popen.wait(timeout=INITDB_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        code = None
    finally:
        initdb.stop()
    if code != 0:
        raise RuntimeError(f"initdb exited with code {code}: {_tail(log_path)}")


def start_throwaway(
    log_path: Path | None = None, *, cpus: set[int] | None = None, name: str = "database"
) -> Database:
    """initdb, start, seed: a running throwaway PostgreSQL (its .url to connect to). Raises
    RuntimeError with the reason when it cannot; nothing is left behind then."""
    binaries = find_binaries()
    if binaries is None:
        raise RuntimeError(MISSING)
    remove_stale_folders()
    user = run_as()
    folder = Path(tempfile.mkdtemp(prefix=DIR_PREFIX))
    db: Database | None = None
    try:
        (folder / OWNER_FILE).write_text(str(os.getpid()))
        if user is not None:
            os.chown(folder, user.pw_uid, user.pw_gid)
        data = folder / "data"
        _initdb(binaries, data, log_path, cpus)

        def start_at(port: int) -> procs.Child:
            return _start(
                name,
                [binaries.postgres, "-D", str(data), "-p", str(port),
                 "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={folder}",
                 "-c", "max_connections=200", "-c", "log_min_messages=warning"],
                log_path, folder, cpus,
            )  # fmt: skip

        def ready(child: procs.Child, port: int) -> None:
            _wait_ready(_url(port), child, log_path)

        in_use = procs.log_says_in_use(log_path, "already in use") if log_path else lambda _: False
        child, port = procs.start_on_free_port(start_at, ready, in_use)
        db = Database.adopt(child, folder, _url(port))
        seed(db.url)
        return db
    except BaseException:
        if db is not None:
            db.stop()
        remove_folder(folder)
        raise


def _url(port: int) -> str:
    return f"postgresql://{USER}@127.0.0.1:{port}/{DBNAME}"


def check_db_url(url: str, *, allow_remote: bool = False) -> str:
    """A --db-url that the db scenarios can use: a postgresql:// URL, loopback unless
    allow_remote, reachable now; its tables are created if missing. UserError otherwise."""
    where = "--db-url"
    if not url.startswith(DB_URL_SCHEMES):
        raise UserError(f"{where}: {url!r} is not a postgresql:// URL")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        # No host: libpq would use a local unix socket, which is loopback too.
        host = "localhost"
    require_loopback(where, host, allow_remote)
    import psycopg

    try:
        seed(url)
    except psycopg.Error as exc:
        raise UserError(f"{where}: cannot use the database at {host}: {first_line(exc)}") from None
    return url


def db_refusal(needs_db: bool, db_url: str | None) -> str:
    """Why a suite's db cells cannot run here, as one line ("" when they can): no --db-url,
    and no PostgreSQL to start throwaway databases from. `needs_db`: a built-in scenario of
    the suite uses the database. Said once on stderr before the run; the db cells then fail
    with it, unstarted, and every other cell runs as usual."""
    if db_url is not None or not needs_db:
        return ""
    reason = missing_reason()
    if reason is None:
        return ""
    line = f"db cells refused: {reason}"
    print(line, file=sys.stderr, flush=True)
    return line
