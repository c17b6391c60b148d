"""A sampled frame as a reader names it (`threading.Condition.wait`) and the layer it belongs
to, so that a profile reads in one line: the app's handler, Tornado's HTTP layer, the event
loop, the database driver, locks and threads, the rest.

py-spy writes each frame's file in full (record/stacks.py); where it lies says what it is:
under a `lib/python3.X/` folder the standard library, under `site-packages/` a third party,
under the folder the program ran from (ProfileRecord.roots) the program's own code: the
handlers of a built-in server (servers/, catalog/) or an app's."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import lru_cache

from record.stacks import Frame

# Where a frame's code comes from.
STDLIB, THIRD_PARTY, OWN = "stdlib", "third-party", "own"
# The layers, in the order a line names them.
HANDLER = "handler"
HTTP = "Tornado HTTP"
LOOP = "event loop"
DRIVER = "database driver"
THREADS = "locks & threads"
REST = "rest"
LAYERS = (HANDLER, HTTP, LOOP, DRIVER, THREADS, REST)
# Modules by layer (a module and everything below it). The event loop's Tornado modules are
# named before Tornado itself: the first match wins. gevent is the Locust side's loop.
_BY_MODULE: tuple[tuple[str, str], ...] = (
    ("tornado.ioloop", LOOP),
    ("tornado.platform", LOOP),
    ("tornado", HTTP),
    ("asyncio", LOOP),
    ("selectors", LOOP),
    ("select", LOOP),
    ("uvloop", LOOP),
    ("gevent", LOOP),
    ("psycopg", DRIVER),
    ("psycopg_pool", DRIVER),
    ("psycopg_c", DRIVER),
    ("psycopg_binary", DRIVER),
    ("asyncpg", DRIVER),
    ("sqlite3", DRIVER),
    ("pymysql", DRIVER),
    ("aiomysql", DRIVER),
    ("redis", DRIVER),
    ("threading", THREADS),
    ("queue", THREADS),
    ("concurrent", THREADS),
    ("multiprocessing", THREADS),
    ("_thread", THREADS),
)
_STDLIB_PATH = re.compile(r"/lib/python3\.\d+t?/(?!site-packages/|dist-packages/)(.+)$")
_THIRD_PATH = re.compile(r"/(?:site|dist)-packages/(.+)$")
NO_FRAME = "(no Python frame)"  # a thread sampled outside any Python code


@dataclass(frozen=True)
class Named:
    """A frame as shown: its label, where its code comes from, its layer."""

    label: str
    kind: str
    layer: str


def _module(path: str) -> str:
    """`asyncio/base_events.py` → `asyncio.base_events`; a package's __init__ is the package."""
    path = path.removesuffix(".py").removesuffix(".pyc")
    module = path.strip("/").replace("/", ".")
    return module.removesuffix(".__init__")


def _where(file: str, roots: tuple[str, ...]) -> tuple[str, str]:
    """(kind, module) of a frame's file."""
    if file.startswith("<frozen ") and file.endswith(">"):
        return STDLIB, file[len("<frozen ") : -1]
    found = _THIRD_PATH.search(file)
    if found:
        return THIRD_PARTY, _module(found.group(1))
    found = _STDLIB_PATH.search(file)
    if found:
        return STDLIB, _module(found.group(1))
    for root in roots:
        prefix = root.rstrip("/") + "/"
        if root and file.startswith(prefix):
            return OWN, _module(file[len(prefix) :])
    if not file.startswith("/"):  # a short name (py-spy's default): the top module says
        module = _module(file)
        top = module.split(".")[0]
        if top in sys.stdlib_module_names:
            return STDLIB, module
        if any(top == m.split(".")[0] for m, _ in _BY_MODULE):
            return THIRD_PARTY, module
        return OWN, module
    return OWN, _module(file.rsplit("/", 1)[-1])


def layer_of(kind: str, module: str) -> str:
    for prefix, layer in _BY_MODULE:
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return HANDLER if kind == OWN else REST


@lru_cache(maxsize=65536)
def name(frame: Frame | None, roots: tuple[str, ...] = ()) -> Named:
    """A frame's label (`module.function`), kind and layer."""
    if frame is None:
        return Named(NO_FRAME, STDLIB, REST)
    kind, module = _where(frame.file, roots)
    label = f"{module}.{frame.name}" if module else frame.name
    return Named(label, kind, layer_of(kind, module))
