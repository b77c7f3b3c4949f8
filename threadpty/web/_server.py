"""The server: HTTP routes and WebSocket upgrades on one port, a thread per connection.

Built on the ``websockets`` library's sync server: it runs each connection's handler in a thread
of its own and its ``send`` is safe from another thread and blocks under backpressure, which is
exactly the model of a threadpty session (a blocking output thread sends, the handler thread feeds
input). No event loop is involved anywhere.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import shlex
import socket
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, parse_qsl, quote, unquote, urlencode, urlsplit

from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from . import _pages
from ._auth import Auth, is_loopback
from ._bridge import Bridge
from ._engines import Container, Engines
from ._protocol import MAX_MESSAGE, error_message
from ._terminal import Terminal

log = logging.getLogger("threadpty.web")

# Containers made for --run tabs carry this label (value: the server's id), so that whatever a
# crash left behind can be found, and a server removes only its own.
RUN_LABEL = "io.threadpty.web"


class ConfigError(ValueError):
    """A setting the server refuses to start with; the text is for the user."""


@dataclass
class Config:
    host: str = "127.0.0.1"
    port: int = 8022
    # None: make one at start. "": none at all (refused unless the host is loopback).
    token: Optional[str] = None
    command: Optional[str] = None
    max_sessions: int = 100
    exec_container: Optional[str] = None
    run_image: Optional[str] = None
    run_network: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)

    def argv(self) -> List[str]:
        return shlex.split(self.command) if self.command else ["/bin/sh"]

    def check(self) -> None:
        if self.exec_container and self.run_image:
            raise ConfigError("--exec and --run cannot be used together")
        if self.max_sessions < 1:
            raise ConfigError("--max-sessions must be at least 1")
        if self.token == "" and not is_loopback(self.host):
            raise ConfigError(
                f"refusing to serve shells on {self.host} without a token: "
                "give --token (or leave it out for a random one), or bind 127.0.0.1"
            )
        if self.command is not None:
            try:
                if not shlex.split(self.command):
                    raise ConfigError("--command is empty")
            except ValueError as exc:
                raise ConfigError(f"--command: {exc}") from None


class WebServer:
    """``threadpty web`` as an object: ``start()``, ``url``, ``serve_forever()``, ``shutdown()``."""

    def __init__(self, config: Config, engines: Engines) -> None:
        config.check()
        self.config = config
        self.engines = engines
        if config.token is None:
            config.token = secrets.token_urlsafe(24)
        self.auth = Auth(config.token)
        self.id = secrets.token_hex(6)
        self._lock = threading.Lock()
        self._bridges: Dict[int, Bridge] = {}
        self._numbers = itertools.count(1)
        self._server: Optional[Server] = None
        self._stopping = False

    # Life cycle -------------------------------------------------------------------------------

    def start(self) -> "WebServer":
        missing = _pages.missing_assets()
        if missing:
            raise ConfigError(
                f"the xterm.js files are missing ({', '.join(missing)}): "
                "run `make web-assets` in a checkout, or install a built threadpty[web]"
            )
        if self.config.exec_container is not None:
            # Checked now, so a typo is told at start rather than in every tab.
            try:
                self.engines.resolve(None, self.config.exec_container)
            except LookupError:
                raise ConfigError(
                    f"no running container {self.config.exec_container!r} on the engine"
                ) from None
        if self.config.run_image is not None:
            import docker.errors

            try:
                self.engines.get(None).inspect_image(self.config.run_image)
            except docker.errors.ImageNotFound:
                raise ConfigError(f"no image {self.config.run_image!r} on the engine") from None
        self._server = serve(
            self._handle,
            self.config.host,
            self.config.port,
            process_request=self._process_request,
            # Each deflate context costs a few hundred KiB per connection, and terminal traffic
            # on loopback or a LAN gains little: off.
            compression=None,
            max_size=MAX_MESSAGE,
            # Received frames buffered per connection: at most 16 x 64 KiB.
            max_queue=16,
            server_header=None,
            logger=_quiet_logger(),
        )
        return self

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.socket.getsockname()[1])

    @property
    def url(self) -> str:
        host = self.config.host
        shown = f"[{host}]" if ":" in host else host
        if host in ("0.0.0.0", "::"):
            shown = socket.gethostname()
        query = f"?token={self.config.token}" if self.config.token else ""
        return f"http://{shown}:{self.port}/{query}"

    def serve_forever(self) -> None:
        assert self._server is not None
        self._server.serve_forever()

    def shutdown(self) -> None:
        """Stop listening, end every session (removing --run containers), wait for the threads."""
        self._stopping = True
        if self._server is None:
            return
        # A page that stopped reading leaves its sender blocked in sendall, and the library's close
        # waits for it: after a grace period such sockets are cut.
        watchdog = threading.Timer(5.0, self._cut_all)
        watchdog.name = "threadpty-web-watchdog"
        watchdog.daemon = True
        watchdog.start()
        try:
            self._server.shutdown()
        finally:
            watchdog.cancel()
            self._sweep_run_containers()
            self.engines.close()

    def _cut_all(self) -> None:
        with self._lock:
            bridges = list(self._bridges.values())
        for bridge in bridges:
            try:
                bridge.ws.socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _sweep_run_containers(self) -> None:
        if self.config.run_image is None:
            return
        client = self.engines.get(None)
        try:
            for c in client.containers(all=True, filters={"label": f"{RUN_LABEL}={self.id}"}):
                client.remove_container(c["Id"], force=True)
        except Exception as exc:  # noqa: BLE001 - the engine may be gone; say so
            log.warning("could not remove this server's --run containers: %s", exc)

    @property
    def sessions(self) -> int:
        with self._lock:
            return len(self._bridges)

    # HTTP -------------------------------------------------------------------------------------

    def _process_request(self, conn: ServerConnection, request: Request) -> Optional[Response]:
        headers = request.headers
        path = request.path
        route = urlsplit(path).path
        if not self.auth.allows(path, headers):
            given = self.auth.token_from(path, headers) is not None
            return _pages.text(
                403 if given else 401,
                "wrong token" if given else "a token is needed: open the URL threadpty web printed",
            )
        upgrade = "websocket" in headers.get("Upgrade", "").lower()
        if route == "/ws" or route.startswith("/ws/"):
            if not upgrade:
                return _pages.text(426, "this is a WebSocket endpoint")
            if not self.auth.origin_ok(headers):
                return _pages.text(403, "cross-origin WebSocket refused")
            target = self._target(route, path)
            if isinstance(target, Response):
                return target
            conn.threadpty_target = target  # type: ignore[attr-defined]
            return None
        if upgrade:
            return _pages.text(404, "not found")
        if "token" in parse_qs(urlsplit(path).query) and self.auth.token is not None:
            # Trade the token in the URL for a cookie, and take it out of the address bar.
            rest = [(k, v) for k, v in parse_qsl(urlsplit(path).query) if k != "token"]
            location = route + ("?" + urlencode(rest) if rest else "")
            return _pages.redirect(location, [("Set-Cookie", self.auth.cookie_header())])
        if route.startswith("/static/"):
            return _pages.static(route[len("/static/") :])
        if route == "/":
            if self._single():
                return _pages.terminal_page(self._single_title(), "/ws")
            return self._index()
        if route.startswith("/t/") and not self._single():
            name = unquote(route[3:])
            engine = _query(path, "engine")
            ws = "/ws/" + quote(name, safe="")
            if engine is not None:
                ws += "?engine=" + quote(engine, safe="")
            title = name if engine is None else f"{name} ({engine})"
            return _pages.terminal_page(title, ws)
        return _pages.text(404, "not found")

    def _single(self) -> bool:
        return self.config.exec_container is not None or self.config.run_image is not None

    def _single_title(self) -> str:
        if self.config.exec_container is not None:
            return self.config.exec_container
        return f"new {self.config.run_image}"

    def _index(self) -> Response:
        listing: List[Tuple[str, List[Container], Optional[str]]] = []
        for name in self.engines.names:
            try:
                listing.append((name, self.engines.containers(name), None))
            except Exception as exc:  # noqa: BLE001 - one engine down must not hide the others
                listing.append((name, [], f"cannot list containers: {type(exc).__name__}"))
        return _pages.index_page(listing, several=len(self.engines.names) > 1)

    def _target(self, route: str, path: str) -> Any:
        """What a /ws URL opens: ("exec", client, id, label) or ("run", client, image, label)."""
        if self._single():
            if route != "/ws":
                return _pages.text(404, "not found")
            client = self.engines.get(None)
            if self.config.run_image is not None:
                return ("run", client, self.config.run_image)
            name = self.config.exec_container
            assert name is not None
        else:
            if route == "/ws":
                return _pages.text(404, "name a container: /ws/<container>")
            client = None
            name = unquote(route[len("/ws/") :])
        engine = _query(path, "engine")
        try:
            client, container = self.engines.resolve(engine, name)
        except LookupError as exc:
            return _pages.text(404, str(exc))
        except Exception as exc:  # noqa: BLE001 - the engine could not be asked
            return _pages.text(502, f"the engine could not be reached: {type(exc).__name__}")
        return ("exec", client, container.id)

    # WebSocket --------------------------------------------------------------------------------

    def _handle(self, ws: ServerConnection) -> None:
        number = next(self._numbers)
        _name_threads(ws, number)
        target: Tuple[Any, ...] = ws.threadpty_target  # type: ignore[attr-defined]
        bridge = Bridge(ws, number, self._opener(target), self._ended)
        with self._lock:
            full = len(self._bridges) >= self.config.max_sessions or self._stopping
            if not full:
                self._bridges[number] = bridge
        if full:
            limit = self.config.max_sessions
            ws.send(error_message(f"this server already runs its maximum of {limit} sessions"))
            ws.close(1013, "too many sessions")
            return
        try:
            bridge.run()
        finally:
            with self._lock:
                self._bridges.pop(number, None)

    def _opener(self, target: Tuple[Any, ...]) -> Any:
        kind, client, what = target
        argv = self.config.argv()

        def open_exec(size: Tuple[int, int], output: Any) -> Terminal:
            return Terminal.exec(client, what, argv, size, output)

        def open_run(size: Tuple[int, int], output: Any) -> Terminal:
            cid = client.create_container(
                what,
                argv if self.config.command else None,
                tty=True,
                stdin_open=True,
                labels={RUN_LABEL: self.id},
                host_config=client.create_host_config(network_mode=self.config.run_network),
            )["Id"]
            try:
                return Terminal.run(client, cid, size, output)
            except BaseException:
                client.remove_container(cid, force=True)
                raise

        return open_run if kind == "run" else open_exec

    def _ended(self, terminal: Terminal) -> None:
        if self.config.run_image is None:
            return
        try:
            terminal.client.remove_container(terminal.container, force=True)
        except Exception as exc:  # noqa: BLE001 - already gone is fine
            log.debug("removing %s: %s", terminal.container[:12], exc)


def _query(path: str, key: str) -> Optional[str]:
    values = parse_qs(urlsplit(path).query).get(key)
    return values[0] if values else None


def _name_threads(ws: ServerConnection, number: int) -> None:
    """The library's threads for this connection get names that say whose they are."""
    threading.current_thread().name = f"threadpty-web-conn-{number}"
    for attr, role in (("recv_events_thread", "recv"), ("keepalive_thread", "keepalive")):
        thread = getattr(ws, attr, None)
        if isinstance(thread, threading.Thread):
            thread.name = f"threadpty-web-{role}-{number}"


def _quiet_logger() -> logging.Logger:
    """The library's logger, kept above DEBUG even with --debug: at DEBUG it logs every frame,
    which is every keystroke and every byte of output (they may be passwords)."""
    logger = logging.getLogger("threadpty.web.websockets")
    if not logger.filters:
        logger.addFilter(lambda record: record.levelno > logging.DEBUG)
    return logger
