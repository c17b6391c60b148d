"""The loopback policy, written once: load, listening sockets and databases stay on this
machine unless the user gives --allow-remote, and every refusal says so in the same words."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from record.errors import UserError


def is_loopback(host: str) -> bool:
    """True for localhost and any loopback address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_loopback(where: str, host: str, allow_remote: bool, what: str = "use it") -> None:
    """Refuse (one line) a host off this machine unless allow_remote. `what` says what the
    flag would allow there: "use it", "load it", "listen there"."""
    if not allow_remote and not is_loopback(host):
        raise UserError(f"{where}: {host} is not a loopback address; add --allow-remote to {what}")


def check_target(url: str, allow_remote: bool, source: str = "target") -> str:
    """A target must be http(s)://host:port; only loopback unless allow_remote."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"{source}: must look like http://127.0.0.1:PORT")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise UserError(f"{source}: the port is not a number in 1..65535") from None
    require_loopback(source, parts.hostname, allow_remote, "load it")
    return url.rstrip("/")
