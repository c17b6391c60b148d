"""An example service to benchmark with tornado-bench: a small order API whose "database"
answers after --db-ms milliseconds. It waits for that answer in one of two ways:

  --mode blocking   a blocking driver called inside the handler: while it waits, the IOLoop
                    waits too, so this process serves one request at a time;
  --mode async      an async driver awaited by the handler: while it waits, the IOLoop serves
                    other requests, so every request in flight can wait at once.

The two modes differ only in how they wait, which is the decision a benchmark should inform.
Run it by hand with `python app.py --port 8000 --mode async`; SIGTERM or Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time

import tornado.web

ORDERS = [{"id": i, "item": f"item-{i}", "quantity": i % 5 + 1} for i in range(100)]
MAX_LIMIT = 100  # a request cannot ask for an unbounded amount of work


def query_blocking(db_ms: int, limit: int) -> list[dict]:
    """Stands in for a blocking database driver (psycopg, a plain HTTP client, ...)."""
    time.sleep(db_ms / 1000)
    return ORDERS[:limit]


async def query_async(db_ms: int, limit: int) -> list[dict]:
    """Stands in for an async driver (asyncpg, AsyncHTTPClient, ...)."""
    await asyncio.sleep(db_ms / 1000)
    return ORDERS[:limit]


class OrdersBase(tornado.web.RequestHandler):
    def initialize(self, db_ms: int) -> None:
        # Per-route settings arrive here from the route's dict (see make_app).
        self.db_ms = db_ms

    def wanted(self, order_id: str | None) -> tuple[int, int]:
        """(first order, how many): one order by id, or a list of ?limit= orders."""
        if order_id is not None:
            if int(order_id) >= len(ORDERS):
                raise tornado.web.HTTPError(404, reason="no such order")
            return int(order_id), 1
        try:
            limit = int(self.get_argument("limit", "10"))
        except ValueError:
            raise tornado.web.HTTPError(400, reason="limit must be an integer") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise tornado.web.HTTPError(400, reason=f"limit must be in 1..{MAX_LIMIT}")
        return 0, limit


class BlockingOrders(OrdersBase):
    def get(self, order_id: str | None = None) -> None:
        first, count = self.wanted(order_id)
        rows = query_blocking(self.db_ms, first + count)[first:]
        self.write({"orders": rows})


class AsyncOrders(OrdersBase):
    async def get(self, order_id: str | None = None) -> None:
        first, count = self.wanted(order_id)
        rows = (await query_async(self.db_ms, first + count))[first:]
        self.write({"orders": rows})


class Health(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("ok")  # tornado-bench polls this until it answers 200 (any body)


def make_app(mode: str, db_ms: int) -> tornado.web.Application:
    handler = AsyncOrders if mode == "async" else BlockingOrders
    return tornado.web.Application(
        [
            (r"/health", Health),
            (r"/orders", handler, {"db_ms": db_ms}),
            (r"/orders/([0-9]{1,3})", handler, {"db_ms": db_ms}),
        ]
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=["blocking", "async"], required=True)
    parser.add_argument("--db-ms", type=int, default=20, help="database wait per query (ms)")
    args = parser.parse_args()
    server = make_app(args.mode, args.db_ms).listen(args.port, address="127.0.0.1")
    # Stop cleanly on SIGTERM (how tornado-bench stops an app) and on Ctrl-C.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.stop()


if __name__ == "__main__":
    asyncio.run(main())
