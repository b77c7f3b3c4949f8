"""Who may open a page or a terminal: the token, the Origin of upgrades, the Host of requests.

The token travels as ``?token=T`` (the URL printed at start), as the cookie the server sets on the
first visit, or as ``Authorization: Bearer T``; every comparison is constant-time. A WebSocket
upgrade whose ``Origin`` is not this server is refused (cross-site WebSocket hijacking). Without a
token (allowed on loopback only) the ``Host`` must be a loopback name, so a DNS-rebinding page
cannot reach the server under a name of its own.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
from http.cookies import CookieError, SimpleCookie
from typing import Mapping, Optional
from urllib.parse import parse_qs, urlsplit

COOKIE = "threadpty_token"
LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


def is_loopback(host: str, resolve: bool = True) -> bool:
    """Whether ``host`` (a name or an address) only ever means this machine.

    ``resolve=False`` (for a request's Host header): no name lookup, which could be slow and
    whose answer a rebinding attacker controls; only loopback addresses and ``localhost``.
    """
    host = host.strip("[]")
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if not resolve:
        return False
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def host_name(host_header: str) -> str:
    """The name part of a ``Host`` header (``[::1]:8022`` → ``::1``)."""
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")] if "]" in host_header else host_header
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class Auth:
    def __init__(self, token: Optional[str]) -> None:
        self.token = token or None

    def token_from(self, path: str, headers: Mapping[str, str]) -> Optional[str]:
        """The token the request presents, however it came (query, Bearer header, cookie)."""
        query = parse_qs(urlsplit(path).query)
        if "token" in query:
            return query["token"][0]
        auth = headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            return auth[7:].strip()
        cookie = headers.get("Cookie")
        if cookie:
            try:
                jar: SimpleCookie = SimpleCookie(cookie)
            except CookieError:
                return None
            if COOKIE in jar:
                return jar[COOKIE].value
        return None

    def allows(self, path: str, headers: Mapping[str, str]) -> bool:
        if self.token is None:
            return is_loopback(host_name(headers.get("Host", "")), resolve=False)
        given = self.token_from(path, headers)
        if given is None:
            return False
        return hmac.compare_digest(given.encode("utf-8", "replace"), self.token.encode("utf-8"))

    @staticmethod
    def origin_ok(headers: Mapping[str, str]) -> bool:
        """A browser always sends Origin on an upgrade; it must name this very host and port.

        Programs (``websockets.sync.client``, curl) send none: they are not a cross-site page, and
        the token still applies to them.
        """
        origin = headers.get("Origin")
        if origin is None:
            return True
        parts = urlsplit(origin)
        host = headers.get("Host", "")
        return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower() != ""

    def cookie_header(self) -> str:
        assert self.token is not None
        # HttpOnly: the page's scripts never see it; Strict: no other site's request carries it.
        return f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
