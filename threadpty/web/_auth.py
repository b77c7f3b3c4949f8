"""Who may open a terminal: the token, the Origin of upgrades, the Host of requests.

The token is never in a cookie: browsers send a host's cookies to every port of it (RFC 6265
§8.5), so any other program listening on the host would receive it. The printed URL carries it in
its fragment (``#token=T``, which browsers never send), the page keeps it in ``sessionStorage``
(per origin, port included) and presents it on each call itself: ``Authorization: Bearer T`` for
HTTP, and for the WebSocket, whose browser API cannot set headers, a second subprotocol offered
beside ``threadpty``: ``threadpty.token.<T as base64url>``. Programs may send the header on the
upgrade instead. Either way it is checked in the HTTP handshake, before anything is upgraded, and
compared in constant time.

A WebSocket upgrade whose ``Origin`` is not this server is refused (cross-site WebSocket
hijacking). Without a token (allowed on loopback only) the ``Host`` must be a loopback name, so a
DNS-rebinding page cannot reach the server under a name of its own.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import socket
from typing import List, Mapping, Optional
from urllib.parse import urlsplit

# The one subprotocol the server speaks; a browser's upgrade offers it beside the token's.
SUBPROTOCOL = "threadpty"
TOKEN_PROTOCOL = "threadpty.token."
# The cookie earlier versions logged in with. Never accepted; a browser that still holds it is told
# to drop it, since it goes on carrying it to every port of the host.
OLD_COOKIE = "threadpty_token"
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


def token_protocol(token: str) -> str:
    """The subprotocol that carries ``token`` (what the page offers; for clients and tests)."""
    encoded = base64.urlsafe_b64encode(token.encode("utf-8")).decode("ascii")
    return TOKEN_PROTOCOL + encoded.rstrip("=")


def _lines(headers: Mapping[str, str], name: str) -> List[str]:
    """Every line of a header that may come more than once (a plain mapping holds one)."""
    get_all = getattr(headers, "get_all", None)
    lines = get_all(name) if get_all is not None else [headers.get(name)]
    return [line for line in lines if line]


def _one(headers: Mapping[str, str], name: str) -> Optional[str]:
    """A header that must come once: its value, None if absent, "" if repeated (never valid)."""
    lines = _lines(headers, name)
    return None if not lines else lines[0] if len(lines) == 1 else ""


def offered_protocols(headers: Mapping[str, str]) -> List[str]:
    """The subprotocols an upgrade offers, however many ``Sec-WebSocket-Protocol`` lines it has."""
    lines = _lines(headers, "Sec-WebSocket-Protocol")
    return [p.strip() for line in lines for p in line.split(",") if p.strip()]


def check_token(token: str) -> Optional[str]:
    """Why ``token`` cannot be used (None: it can). It goes into a URL, an HTTP header and a
    subprotocol, so it is kept to visible ASCII."""
    if not all("!" <= c <= "~" for c in token):
        return "--token must be visible ASCII characters (no spaces)"
    return None


class Auth:
    def __init__(self, token: Optional[str]) -> None:
        self.token = token or None

    @staticmethod
    def token_from(headers: Mapping[str, str]) -> Optional[bytes]:
        """The token a request presents: a Bearer header, or the subprotocol that carries it.

        Never a cookie, nor the URL's query: both reach places other than this server.
        """
        auth = _one(headers, "Authorization") or ""
        if auth[:7].lower() == "bearer ":
            return auth[7:].strip().encode("utf-8", "replace")
        for protocol in offered_protocols(headers):
            if protocol.startswith(TOKEN_PROTOCOL):
                encoded = protocol[len(TOKEN_PROTOCOL) :]
                try:
                    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
                except (binascii.Error, ValueError):
                    return b""  # given, and wrong
        return None

    def allows(self, headers: Mapping[str, str]) -> bool:
        if self.token is None:
            return is_loopback(host_name(_one(headers, "Host") or ""), resolve=False)
        given = self.token_from(headers)
        return given is not None and self.matches(given)

    def matches(self, given: bytes) -> bool:
        assert self.token is not None
        return hmac.compare_digest(given, self.token.encode("utf-8"))

    @staticmethod
    def origin_ok(headers: Mapping[str, str], scheme: Optional[str] = None) -> bool:
        """A browser always sends Origin on an upgrade; it must name this very host and port
        (and ``scheme``, when given: a server on HTTPS serves no page from http://).

        Programs (``websockets.sync.client``, curl) send none: they are not a cross-site page, and
        the token still applies to them.
        """
        origin = _one(headers, "Origin")
        if origin is None:
            return True
        parts = urlsplit(origin)
        host = _one(headers, "Host") or ""
        schemes = ("http", "https") if scheme is None else (scheme,)
        return parts.scheme in schemes and parts.netloc.lower() == host.lower() != ""

    @staticmethod
    def has_old_cookie(headers: Mapping[str, str]) -> bool:
        return any(
            part.split("=", 1)[0].strip() == OLD_COOKIE
            for line in _lines(headers, "Cookie")
            for part in line.split(";")
        )

    @staticmethod
    def expire_old_cookie() -> str:
        return f"{OLD_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
