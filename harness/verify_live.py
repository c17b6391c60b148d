"""Verify before load, for the WebSocket endpoints: the handshake must succeed, /ws/echo must
send back what it was sent, and /ws/feed must deliver a well-formed message of the size asked
for, within its interval (plus slack)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import websocket

from catalog.live import parse_feed

# Beyond the wait the request itself asks for (an echo's ms, a feed's interval).
SLACK_S = 10.0
VERIFY_MESSAGE = "tornado-bench verify"


def ws_url(base_url: str, path: str) -> str:
    """ws://host:port/path for http://host:port (wss:// for https://)."""
    return "ws" + base_url.removeprefix("http") + path


def check_socket(base_url: str, path: str) -> str | None:
    """One short line saying what is wrong with a WebSocket endpoint, or None."""
    parts = urlsplit(path)
    query = {k: int(v[0]) for k, v in parse_qs(parts.query).items() if v[0].isdigit()}
    wait_s = query.get("ms", 0) if parts.path == "/ws/echo" else query.get("interval_ms", 0)
    timeout = wait_s / 1000 + SLACK_S
    try:
        ws = websocket.create_connection(ws_url(base_url, path), timeout=timeout)
    except websocket.WebSocketBadStatusException as exc:
        return f"handshake answered {exc.status_code}"
    except (OSError, websocket.WebSocketException) as exc:
        return f"no handshake ({type(exc).__name__})"
    try:
        if parts.path == "/ws/echo":
            ws.send(VERIFY_MESSAGE)
            return None if ws.recv() == VERIFY_MESSAGE else "the echo differs from the message"
        message = ws.recv()
        if len(message) != query.get("bytes", len(message)):
            return f"a feed message of {len(message)} bytes, expected {query['bytes']}"
        try:
            parse_feed(message)
        except ValueError:
            return "a feed message without its sequence number and send time"
        return None
    except (OSError, websocket.WebSocketException) as exc:
        return f"no message ({type(exc).__name__})"
    finally:
        ws.close()
