"""Three long-lived services written here, nobody's built-in variant, each benchmarked as a
user would: an [[apps]] entry started on the harness's {port}, and a Locust file on the
documented users (loadgen/users.py). Their rows carry the connection and upload figures a
built-in scenario gets; endpoints.csv tells their posts, waits and deliveries apart."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import run_bench

# A long-poll chat: GET / hands out the XSRF cookie, POST /messages (XSRF-checked) appends a
# message, GET /updates?cursor=N answers the messages after N at once, or waits for the next
# one (at most 2 s, then answers none). Tornado's wait takes a timedelta or an IOLoop.time()
# deadline (the wall clock), not asyncio's monotonic one: given that, every poll answered at
# once, and the test still passed until it counted the polls against the posts.
LONG_POLL_CHAT = """
import asyncio, datetime, sys
import tornado.locks, tornado.web

MESSAGES: list[str] = []
ARRIVED = tornado.locks.Condition()

class Home(tornado.web.RequestHandler):
    def get(self):
        self.xsrf_token  # sets the _xsrf cookie
        self.write("chat")

class Post(tornado.web.RequestHandler):
    def post(self):
        MESSAGES.append(self.get_body_argument("text"))
        ARRIVED.notify_all()
        self.write({"id": len(MESSAGES)})

class Updates(tornado.web.RequestHandler):
    async def get(self):
        cursor = int(self.get_argument("cursor", "0"))
        if len(MESSAGES) <= cursor:
            await ARRIVED.wait(timeout=datetime.timedelta(seconds=2))
        self.write({"cursor": len(MESSAGES), "messages": MESSAGES[cursor:][-20:]})

async def main():
    app = tornado.web.Application(
        [("/", Home), ("/messages", Post), ("/updates", Updates)],
        xsrf_cookies=True, cookie_secret="not a secret",
    )
    app.listen(int(sys.argv[1]), address="127.0.0.1")
    await asyncio.Event().wait()

asyncio.run(main())
"""

LONG_POLL_LOAD = """
from locust import constant, task
from loadgen.users import LongPollUser

class Waiter(LongPollUser):
    weight = 3
    wait_time = constant(0)

    def on_start(self):
        self.client.get("/", name="/")
        self.cursor = 0

    @task
    def wait(self):
        answer = self.long_poll(f"/updates?cursor={self.cursor}", name="/updates", timeout=10)
        self.cursor = answer.json()["cursor"]

class Poster(LongPollUser):
    weight = 1
    wait_time = constant(0.2)

    def on_start(self):
        self.client.get("/", name="/")

    @task
    def post(self):
        token = self.client.cookies["_xsrf"]
        self.client.post("/messages", data={"text": "hi"}, headers={"X-XSRFToken": token})
"""

# A WebSocket chat: every message is sent to every open socket, its sender's included.
BROADCAST_CHAT = """
import asyncio, sys
import tornado.web, tornado.websocket

OPEN: set = set()

class Chat(tornado.websocket.WebSocketHandler):
    def open(self):
        OPEN.add(self)

    def on_message(self, message):
        for socket in list(OPEN):
            socket.write_message(message, binary=isinstance(message, bytes))

    def on_close(self):
        OPEN.discard(self)

async def main():
    tornado.web.Application([("/chat", Chat)]).listen(int(sys.argv[1]), address="127.0.0.1")
    await asyncio.Event().wait()

asyncio.run(main())
"""

BROADCAST_LOAD = """
from locust import constant, task
from loadgen.users import WebSocketUser

class Chatter(WebSocketUser):
    wait_time = constant(0.25)
    ws_path = "/chat"

    @task
    def say(self):
        self.send(b"hello from a chatter", stamp=True)
"""

# A file receiver: bodies are read as they stream in (@stream_request_body) and only counted;
# POST answers the count, anything else 405 (so no GET can say it is ready).
RECEIVER = """
import asyncio, sys
import tornado.web

@tornado.web.stream_request_body
class Upload(tornado.web.RequestHandler):
    def prepare(self):
        self.count = 0

    def data_received(self, chunk):
        self.count += len(chunk)

    def post(self):
        self.write(str(self.count))

async def main():
    tornado.web.Application([("/upload", Upload)]).listen(int(sys.argv[1]), address="127.0.0.1")
    await asyncio.Event().wait()

asyncio.run(main())
"""

BODY = 256 * 1024
RECEIVER_LOAD = f"""
from locust import HttpUser, constant, task

BODY = b"x" * {BODY}

class Sender(HttpUser):
    wait_time = constant(0.05)

    @task
    def upload(self):
        with self.client.post("/upload", data=BODY, catch_response=True) as answer:
            if answer.text != str(len(BODY)):
                answer.failure(f"the receiver counted {{answer.text}} bytes")
"""

USERS = 8
SUITE = f"""
name = "own-services"
duration_s = 3
warmup_s = 1
users = [{USERS}]

[[apps]]
name = "longpoll"
command = ["{{python}}", "longpoll.py", "{{port}}"]

[[apps]]
name = "broadcast"
command = ["{{python}}", "broadcast.py", "{{port}}"]
health = "tcp"

[[apps]]
name = "receiver"
command = ["{{python}}", "receiver.py", "{{port}}"]
health = "tcp"

[[scenarios]]
file = "longpoll_load.py"
variants = ["longpoll"]
verify = ["/"]
headline = ["POST /messages"]

[[scenarios]]
file = "broadcast_load.py"
variants = ["broadcast"]
headline = ["WS /chat:deliver"]

[[scenarios]]
file = "receiver_load.py"
variants = ["receiver"]
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run of the three services, each for one cell."""
    work = tmp_path_factory.mktemp("own")
    for name, text in {
        "longpoll.py": LONG_POLL_CHAT,
        "longpoll_load.py": LONG_POLL_LOAD,
        "broadcast.py": BROADCAST_CHAT,
        "broadcast_load.py": BROADCAST_LOAD,
        "receiver.py": RECEIVER,
        "receiver_load.py": RECEIVER_LOAD,
    }.items():
        (work / name).write_text(text)
    (work / "suite.toml").write_text(SUITE)
    out = work / "results"
    result = run_bench("run", str(work / "suite.toml"), "--out", str(out), "--quiet")
    assert result.returncode in (0, 2), result.stderr + result.stdout
    (found,) = out.iterdir()
    return found


def cell_of(run_dir: Path, app: str) -> tuple[pd.Series, pd.DataFrame, dict]:
    """(its summary row, its endpoints.csv rows, its connections.json or {})."""
    summary = pd.read_csv(run_dir / "summary.csv").set_index("variant")
    row = summary.loc[app]
    assert row["status"] in ("ok", "invalid"), row["notes"]
    cell_id = row["cell_id"]
    table = pd.read_csv(run_dir / "endpoints.csv", keep_default_na=False, na_values=[""])
    mine = table[table["cell_id"] == cell_id]
    path = run_dir / "cells" / cell_id / "connections.json"
    return row, mine, json.loads(path.read_text()) if path.exists() else {}


def endpoint(rows: pd.DataFrame, kind: str, name: str) -> pd.Series:
    (found,) = rows[(rows["request_type"] == kind) & (rows["endpoint"] == name)].itertuples()
    return pd.Series(found._asdict())


def test_the_long_poll_chat_tells_posts_from_waits_and_counts_the_polls_waiting(
    run_dir: Path,
) -> None:
    row, rows, figures = cell_of(run_dir, "longpoll")
    posts, waits = endpoint(rows, "POST", "/messages"), endpoint(rows, "GET", "/updates:poll")
    assert posts["headline"] and not waits["headline"]
    assert posts["failures"] == 0 and waits["failures"] == 0  # the XSRF cookie went along
    # The summary row is the posts' (the headline), not the mix of posts and waits.
    assert row["requests"] == posts["requests"] and row["p99_ms"] == posts["p99_ms"]
    # Six waiters each hold a poll between answers: the most waiting at once is theirs.
    assert (
        4 <= figures["polls_waiting_max"] <= 6
        and row["polls_waiting_max"] == (figures["polls_waiting_max"])
    )
    # They wait: a poll answers a post, or its 2 s timeout (half as many again allowed, for
    # the polls that meet a post on their way); one answered at once would make hundreds.
    waiters, window_s = 6, 3
    assert waits["requests"] <= 1.5 * waiters * (posts["requests"] + window_s / 2), waits
    # No WebSocket: what the server holds is its polls; no "held too few" from the posters.
    assert row["connections_held"] != row["connections_held"] and "held" not in str(row["notes"])
    assert posts["bytes_sent"] > 0 and waits["bytes_sent"] == 0


def test_the_broadcast_chat_has_its_connections_and_deliveries(run_dir: Path) -> None:
    row, rows, figures = cell_of(run_dir, "broadcast")
    sends = endpoint(rows, "WS", "/chat:send")
    deliveries = endpoint(rows, "WS", "/chat:deliver")
    # The handshakes came in the warm-up (endpoints.csv is the window's): connections.json.
    assert figures["connects"] == USERS and figures["connect_failures"] == 0
    assert row["connections_held"] == USERS == row["connections_held_end"]
    assert row["connect_p99_ms"] > 0 and row["kb_per_connection"] == row["kb_per_connection"]
    # Every message reaches every open socket: deliveries are sends × users, give or take the
    # messages in flight at the window's edges.
    assert deliveries["requests"] == pytest.approx(sends["requests"] * USERS, rel=0.2)
    assert row["delivery_p50_ms"] == deliveries["p50_ms"] == row["p50_ms"]
    assert row["delivery_p99_ms"] == deliveries["p99_ms"] and 0 < row["delivery_p99_ms"] < 1000
    # A send's bytes: the message with its 18-byte send stamp in front.
    assert sends["bytes_sent"] == sends["requests"] * (len(b"hello from a chatter") + 18)


def test_the_streamed_upload_receiver_has_its_bytes_sent_and_memory(run_dir: Path) -> None:
    row, rows, figures = cell_of(run_dir, "receiver")
    (upload,) = rows.itertuples()
    assert upload.failures == 0 and upload.requests > 10
    assert upload.bytes_sent == upload.requests * BODY  # every body, counted by the recorder
    assert row["kb_sent_per_request"] == BODY / 1024
    assert row["upload_kb_in_flight"] == row["upload_kb_in_flight"]  # given, not NaN
    assert figures == {}  # no connection of its own to speak of
