"""The server: HTTP routes and WebSocket upgrades on one port, a thread per connection.

Each accepted connection gets one thread, which reads its request, answers it (a page, a file, a
refusal) or upgrades it, and then, for a terminal, reads the page's frames and feeds the session
(see ``_bridge``). The WebSocket protocol is the ``websockets`` library's sans-I/O one, driven by
these threads (``_websocket``): no thread of the library's, and no event loop, anywhere.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import shlex
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple
from urllib.parse import parse_qs, parse_qsl, quote, unquote, urlencode, urlsplit

from websockets.http11 import Request, Response
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from threadpty._docker import call
from threadpty._record import DEFAULT_LIMIT

from . import _pages, _sessions
from ._auth import SUBPROTOCOL, Auth, check_token, is_loopback
from ._bridge import Bridge, LossWatch, WebSession
from ._engines import Container, Engines
from ._listener import Listener, Pending
from ._owner import OWNER_LABEL, RUN_LABEL, is_gone, this_process
from ._protocol import MAX_MESSAGE, BadMessage, error_message
from ._recordings import Recordings, RecordingsError, TabRecording
from ._terminal import WebTerminal
from ._tls import TLSConfigError, TLSStream, server_context
from ._websocket import Closed, WebSocket

log = logging.getLogger("threadpty.web")


# How long the end call waits for its session's processes to be hung up before it answers (the
# hang-up itself gives up after 10 s: see WebTerminal.hang_up).
END_WAIT = 15.0

# How long past its handshake timeout a connection that has not become a session may take to be
# answered (a slow engine, a big static file on a slow link) before it is cut.
PENDING_GRACE = 25.0


DEFAULT_LINGER = 300.0
DEFAULT_REPLAY = 256 * 1024
DEFAULT_MAX_VIEWERS = 8


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
    # Connections accepted but not yet sessions (HTTP requests, WebSocket handshakes): at most
    # this many at once, each given handshake_timeout seconds to send its request.
    max_pending: int = 64
    handshake_timeout: float = 5.0
    exec_container: Optional[str] = None
    run_image: Optional[str] = None
    run_network: Optional[str] = None
    # --record DIR: each tab recorded there (asciicast v2), input too with record_input, each
    # file within record_max bytes.
    record_dir: Optional[str] = None
    record_input: bool = False
    record_max: int = DEFAULT_LIMIT
    # HTTPS and WSS: the certificate (PEM, intermediates after it) and its key (None: in the
    # certificate's file).
    certfile: Optional[str] = None
    keyfile: Optional[str] = None
    # --linger: how long a session whose page asked for it outlives its connection, waiting for
    # the page to reattach (0: ended with its connection). --replay: the output it keeps for
    # that page, in bytes (0: none).
    linger: float = DEFAULT_LINGER
    replay: int = DEFAULT_REPLAY
    # Pages that may view one session at once beside its own (its share link; 0: no sharing),
    # and whether they may type into it (--shared-writers); read-only otherwise.
    max_viewers: int = DEFAULT_MAX_VIEWERS
    shared_writers: bool = False
    extra: Dict[str, Any] = field(default_factory=dict)

    def argv(self) -> List[str]:
        """The command each tab runs, split as a shell would (``/bin/sh`` by default)."""
        return shlex.split(self.command) if self.command else ["/bin/sh"]

    def tls_context(self) -> Optional[ssl.SSLContext]:
        """The server's TLS context (None: plain HTTP); raises :class:`ConfigError` for a
        certificate or key that cannot be used."""
        if self.certfile is None:
            if self.keyfile is not None:
                raise ConfigError("--keyfile needs --certfile")
            return None
        try:
            return server_context(self.certfile, self.keyfile)
        except TLSConfigError as exc:
            raise ConfigError(str(exc)) from None

    def check(self) -> None:
        """Raise :class:`ConfigError` for options that do not go together, a certificate or key
        that cannot be used, or a non-loopback address without a token (shells are never served
        so)."""
        self.tls_context()
        if self.exec_container and self.run_image:
            raise ConfigError("--exec and --run cannot be used together")
        if self.max_sessions < 1:
            raise ConfigError("--max-sessions must be at least 1")
        if self.token:
            problem = check_token(self.token)
            if problem is not None:
                raise ConfigError(problem)
        if self.max_pending < 1:
            raise ConfigError("--max-pending must be at least 1")
        if not self.handshake_timeout > 0:
            raise ConfigError("the handshake timeout must be more than 0 seconds")
        if self.token == "" and not is_loopback(self.host):
            raise ConfigError(
                f"refusing to serve shells on {self.host} without a token: "
                "give --token (or leave it out for a random one), or bind 127.0.0.1"
            )
        if not self.linger >= 0:
            raise ConfigError("--linger must be 0 seconds or more")
        if self.replay < 0:
            raise ConfigError("--replay must be 0 bytes or more")
        if self.max_viewers < 0:
            raise ConfigError("--max-viewers must be 0 or more")
        if self.record_input and self.record_dir is None:
            raise ConfigError("--record-input goes with --record DIR")
        if self.record_max < 256:
            raise ConfigError("--record-max must be 256 bytes or more")
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
        self._tls = config.tls_context()
        if config.token is None:
            config.token = secrets.token_urlsafe(24)
        self.auth = Auth(config.token)
        self.id = secrets.token_hex(6)
        # Containers made for --run tabs carry the id (a server removes only its own) and who
        # made them (a later server removes those of one that is gone: see _owner).
        self.labels = {RUN_LABEL: self.id}
        owner = this_process()
        if owner is not None:
            self.labels[OWNER_LABEL] = owner
        self._lock = threading.Lock()
        # Every connection upgraded to a WebSocket, by its number, while its thread serves it.
        self._bridges: Dict[int, Bridge] = {}
        # Every session (the --max-sessions count), lingering ones too, by number and by key;
        # and the places held for connections that have not yet sent their start.
        self._live: Dict[int, WebSession] = {}
        self._keys: Dict[str, WebSession] = {}
        self._opening = 0
        self._numbers = itertools.count(1)
        self._listener: Optional[Listener] = None
        # The connections' threads, for the shutdown to wait for.
        self._threads: Set[threading.Thread] = set()
        self._serving = False
        self._served = threading.Event()
        self._watch: Optional[LossWatch] = None
        self._stopping = False
        # --exec's container, as start() found it: (client, id). Each tab execs into it without
        # asking the engine for its containers again (that list made opening many tabs at once
        # slow); only an exec that finds it gone looks the name up anew (see _opener).
        self._exec_target: Optional[Tuple[Any, str]] = None
        self.recordings: Optional[Recordings] = None
        if config.record_dir is not None:
            self.recordings = Recordings(
                config.record_dir,
                self.id,
                record_input=config.record_input,
                limit=config.record_max,
            )

    # Life cycle -------------------------------------------------------------------------------

    def start(self) -> "WebServer":
        """Check the engine and the page's files, and listen; return self (not serving yet).

        Raises :class:`ConfigError` (missing xterm.js files, unknown ``--exec`` container or
        ``--run`` image) or ``OSError`` (the port cannot be had).
        """
        missing = _pages.missing_assets()
        if missing:
            raise ConfigError(
                f"the page files (xterm.js, asciinema-player) are missing ({', '.join(missing)}): "
                "run `make web-assets` in a checkout, or install a built threadpty[web]"
            )
        if self.recordings is not None:
            try:
                self.recordings.check()
            except RecordingsError as exc:
                raise ConfigError(str(exc)) from None
        if self.config.exec_container is not None:
            # Checked now, so a typo is told at start rather than in every tab.
            try:
                client, found = self.engines.resolve(None, self.config.exec_container)
                self._exec_target = (client, found.id)
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
            self._sweep_stale_run_containers()
        if self._tls is None and not is_loopback(self.config.host):
            log.warning(
                "serving on %s without TLS: the token and everything typed cross the network "
                "in the clear; give --certfile and --keyfile, or put an HTTPS proxy in front",
                self.config.host,
            )
        self._watch = LossWatch()
        self._listener = Listener(
            socket.create_server((self.config.host, self.config.port)),
            self.config.max_pending,
            # Time to send the request, then to be answered or upgraded; a page's static files
            # on a slow link included.
            self.config.handshake_timeout + PENDING_GRACE,
        )
        return self

    @property
    def port(self) -> int:
        """The port listened on (the one chosen, with port 0)."""
        assert self._listener is not None
        return int(self._listener.getsockname()[1])

    @property
    def url(self) -> str:
        """The address to open, with the token."""
        host = self.config.host
        shown = f"[{host}]" if ":" in host else host
        if host in ("0.0.0.0", "::"):
            shown = socket.gethostname()
        # In the fragment: a browser never sends it, so no server or log ever sees it there.
        fragment = f"#token={quote(self.config.token, safe='')}" if self.config.token else ""
        scheme = "http" if self._tls is None else "https"
        return f"{scheme}://{shown}:{self.port}/{fragment}"

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`shutdown` is called from another."""
        listener = self._listener
        assert listener is not None
        with self._lock:
            if self._stopping:
                return
            self._serving = True
        try:
            while True:
                try:
                    # Waits while --max-pending connections are in their handshake, and backs
                    # off when out of descriptors (see Listener).
                    sock, _ = listener.accept()
                except OSError:
                    return  # closed by shutdown()
                number = next(self._numbers)
                thread = threading.Thread(
                    target=self._connection,
                    args=(sock, number),
                    name=f"threadpty-web-conn-{number}",
                    daemon=True,
                )
                with self._lock:
                    self._threads.add(thread)
                thread.start()
        finally:
            self._served.set()

    def shutdown(self) -> None:
        """Stop listening, end every session (removing --run containers), wait for the threads."""
        with self._lock:
            self._stopping = True
            serving = self._serving
        if self._listener is None:
            return
        self._listener.close()
        if serving:
            self._served.wait()
        # A page that stopped reading leaves its sender blocked in sendall, and its close waits
        # for it: after a grace period such sockets are cut.
        watchdog = threading.Timer(5.0, self._cut_all)
        watchdog.name = "threadpty-web-watchdog"
        watchdog.daemon = True
        watchdog.start()
        try:
            # Connections still in their handshake are cut; each session is told the server is
            # going away, and its thread ends it (hang-ups in parallel, one per tab).
            self._listener.cut_pending()
            with self._lock:
                sessions = list(self._live.values())
                bridges = list(self._bridges.values())
            # Lingering sessions too: their owners' threads wake and hang them up.
            for session in sessions:
                session.stop()
            for bridge in bridges:
                if bridge.session is None:  # still to send its start
                    bridge.ws.close(1001, wait=0.1)
            while True:
                with self._lock:
                    threads = list(self._threads)
                if not threads:
                    break
                for thread in threads:
                    thread.join()
        finally:
            watchdog.cancel()
            if self._watch is not None:
                self._watch.close()
            self._sweep_run_containers()
            self.engines.close()

    def _cut_all(self) -> None:
        with self._lock:
            sessions = list(self._live.values())
            bridges = list(self._bridges.values())
        for bridge in bridges:
            bridge.ws.cut()
        for session in sessions:
            # A connection thread blocked writing to a program that does not read wakes only so.
            session.cut()

    def _sweep_stale_run_containers(self) -> None:
        """Remove the --run containers of servers of this host that are gone (killed, say)."""
        client = self.engines.get(None)
        try:
            for c in call(client.containers, all=True, filters={"label": OWNER_LABEL}):
                owner = (c.get("Labels") or {}).get(OWNER_LABEL, "")
                if is_gone(owner):
                    log.warning("removing container %s of a server that is gone", c["Id"][:12])
                    call(client.remove_container, c["Id"], force=True)
        except Exception as exc:  # noqa: BLE001 - a leftover must not stop a server starting
            log.warning("could not remove the --run containers of servers gone: %s", exc)

    def _sweep_run_containers(self) -> None:
        if self.config.run_image is None:
            return
        client = self.engines.get(None)
        try:
            for c in call(client.containers, all=True, filters={"label": f"{RUN_LABEL}={self.id}"}):
                call(client.remove_container, c["Id"], force=True)
        except Exception as exc:  # noqa: BLE001 - the engine may be gone; say so
            log.warning("could not remove this server's --run containers: %s", exc)

    @property
    def sessions(self) -> int:
        """How many sessions are open now (lingering ones included)."""
        with self._lock:
            return len(self._live)

    # HTTP -------------------------------------------------------------------------------------

    def _process_request(self, conn: WebSocket, request: Request) -> Optional[Response]:
        headers = request.headers
        path = request.path
        route = urlsplit(path).path
        upgrade = "websocket" in headers.get("Upgrade", "").lower()
        if route == "/ws" or route.startswith("/ws/"):
            refused = self._refused(headers)
            if refused is not None:
                return refused
            if not upgrade:
                return _pages.text(426, "this is a WebSocket endpoint")
            # Behind an HTTPS proxy a plain server sees either scheme; its own TLS, only https.
            if not self.auth.origin_ok(headers, None if self._tls is None else "https"):
                return _pages.text(403, "cross-origin WebSocket refused")
            target = self._target(route, path)
            if isinstance(target, Response):
                return target
            conn.target = target
            return None
        if upgrade:
            return _pages.text(404, "not found")
        response = self._http(route, path, headers)
        if self.auth.has_old_cookie(headers):
            # It would still go to every port of this host with each request: drop it.
            response.headers["Set-Cookie"] = self.auth.expire_old_cookie()
        return response

    def _refused(self, headers: Any) -> Optional[Response]:
        """401 or 403 for a request without the right token; None when it may go on."""
        if self.auth.allows(headers):
            return None
        if self.auth.token_from(headers) is None:
            return _pages.text(401, "a token is needed: open the URL threadpty web printed")
        return _pages.text(403, "wrong token")

    def _http(self, route: str, path: str, headers: Any) -> Response:
        """Pages and static files show nothing secret and are served to anyone; what they show
        of the engine comes from the /api calls, which need the token."""
        query = parse_qsl(urlsplit(path).query)
        if any(k == "token" for k, _ in query):
            return self._from_old_url(route, query)
        if route.startswith("/api/"):
            refused = self._refused(headers)
            if refused is not None:
                return refused
            if route == "/api/containers" and not self._single():
                return self._containers()
            if route == "/api/title":
                title = self._single_title() if self._single() else ""
                return _pages.json_response({"title": title})
            if route == _sessions.SESSIONS:
                return self._sessions()
            number = _sessions.end_target(route)
            if number is not None:
                return self._end(number, headers)
            if self.recordings is not None and route == "/api/recordings":
                return _pages.json_response({"recordings": self.recordings.listing()})
            if self.recordings is not None and route.startswith("/api/recordings/"):
                # Only a name the folder's listing has is opened (see Recordings.open_file).
                opened = self.recordings.open_file(unquote(route[len("/api/recordings/") :]))
                if opened is None:
                    return _pages.text(404, "no such recording")
                return _pages.file_response(*opened, "application/x-asciicast")
            return _pages.text(404, "not found")
        if route.startswith("/static/"):
            return _pages.static(route[len("/static/") :])
        if route == "/":
            if self._single():
                return _pages.terminal_page("", "/ws")
            return _pages.index_page(recordings=self.recordings is not None)
        if route == "/recordings" and self.recordings is not None:
            return _pages.recordings_page()
        if route.startswith("/t/") and not self._single():
            name = unquote(route[3:])
            engine = _query(path, "engine")
            ws = "/ws/" + quote(name, safe="")
            if engine is not None:
                ws += "?engine=" + quote(engine, safe="")
            title = name if engine is None else f"{name} ({engine})"
            return _pages.terminal_page(title, ws)
        return _pages.text(404, "not found")

    def _from_old_url(self, route: str, query: List[Tuple[str, str]]) -> Response:
        """A URL of the form earlier versions printed (``?token=T``): the same page with the
        token moved into the fragment, and no cookie. A wrong token is told as such."""
        given = next(v for k, v in query if k == "token")
        if self.auth.token is not None and not self.auth.matches(given.encode("utf-8", "replace")):
            return _pages.text(403, "wrong token")
        rest = [(k, v) for k, v in query if k != "token"]
        location = route + ("?" + urlencode(rest) if rest else "")
        if self.auth.token is not None:
            location += "#token=" + quote(self.auth.token, safe="")
        return _pages.redirect(location, [])

    def _single(self) -> bool:
        return self.config.exec_container is not None or self.config.run_image is not None

    def _single_title(self) -> str:
        if self.config.exec_container is not None:
            return self.config.exec_container
        return f"new {self.config.run_image}"

    def _containers(self) -> Response:
        """The index's content: each engine's running containers (or why not)."""
        engines: List[Dict[str, Any]] = []
        for name in self.engines.names:
            entry: Dict[str, Any] = {"name": name, "containers": [], "error": None}
            try:
                found: List[Container] = self.engines.containers(name)
                entry["containers"] = [
                    {"name": c.name, "image": c.image, "status": c.status} for c in found
                ]
            except Exception as exc:  # noqa: BLE001 - one engine down must not hide the others
                entry["error"] = f"cannot list containers: {type(exc).__name__}"
            engines.append(entry)
        return _pages.json_response({"engines": engines})

    def _sessions(self) -> Response:
        """The open sessions (every tab counted by --max-sessions), for the index."""
        with self._lock:
            sessions = list(self._live.values())
        now = time.monotonic()
        views = [s.view(now) for s in sessions]
        return _pages.json_response(_sessions.listing(views))

    def _end(self, number: int, headers: Any) -> Response:
        """End session ``number`` as if its tab had closed, telling its page; answer once its
        processes are hung up.

        A GET, since the WebSocket library's HTTP parser takes no other method; a GET with a side
        effect is safe here because it needs a header that no page of another site can make a
        browser send: the token in ``Authorization`` (checked before this is reached, like every
        /api call), or with no token (loopback only) ``X-Threadpty-End``. Either turns a
        cross-site request into one that needs a CORS preflight, and this server answers no
        OPTIONS request, so the browser never sends it. A link, an <img> or a form cannot end
        a session.
        """
        if self.auth.token is None and not headers.get(_sessions.END_HEADER):
            return _pages.text(403, f"ending a session needs the {_sessions.END_HEADER} header")
        with self._lock:
            session = self._live.get(number)
        if session is None:
            return _pages.text(404, "no such session")
        session.end()
        hung_up = session.wait(END_WAIT)
        return _pages.json_response({"id": number, "ended": True, "hung_up": hung_up})

    def _target(self, route: str, path: str) -> Any:
        """What a /ws URL opens: ("exec", client, id, name, engine, label) or ("run", client,
        image, "", None, label); the name and engine are what the index shows of the session,
        the label names the tab's recording."""
        if self._single():
            if route != "/ws":
                return _pages.text(404, "not found")
            client = self.engines.get(None)
            if self.config.run_image is not None:
                image = self.config.run_image
                return ("run", client, image, "", None, image)
            # Named by whoever started the server, not by the URL, and looked up at start.
            assert self._exec_target is not None
            name = self.config.exec_container
            return ("exec", *self._exec_target, name, None, name)
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
        return ("exec", client, container.id, container.name, engine, container.name)

    # WebSocket --------------------------------------------------------------------------------

    def _connection(self, sock: socket.socket, number: int) -> None:
        """One connection, on its own thread: its request, and then its session if it is one."""
        try:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                # Keystrokes and their echoes are small frames: none may wait for another.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
            ws = WebSocket(
                sock,
                ServerProtocol(
                    select_subprotocol=_select_subprotocol,
                    # No extensions offered: each deflate context costs a few hundred KiB per
                    # connection, and terminal traffic on loopback or a LAN gains little.
                    max_size=MAX_MESSAGE,
                    logger=_quiet_logger(),
                ),
                None if self._tls is None else TLSStream(sock, self._tls),
            )
        except Exception:  # noqa: BLE001 - a connection gone already
            sock.close()
            self._thread_done()
            return
        try:
            upgraded = ws.handshake(
                self._process_request, self.config.handshake_timeout, lambda: self._stopping
            )
            if upgraded:
                self._handle(ws, number)
        except Exception:  # noqa: BLE001 - a bug of ours must not take the server down
            log.exception("connection %d failed", number)
        finally:
            try:
                ws.finish()
            finally:
                self._thread_done()

    def _thread_done(self) -> None:
        with self._lock:
            self._threads.discard(threading.current_thread())

    def _handle(self, ws: WebSocket, number: int) -> None:
        if isinstance(ws.socket, Pending):
            ws.socket.upgraded()  # a session now, counted by max_sessions
        bridge = Bridge(ws, number, self._watch)
        with self._lock:
            # A place is held for it, if there is one, until its start says whether it is a new
            # session. When there is none it is refused at once, as a new session would be,
            # unless a session waits for its page: its start may name that one.
            held = not self._stopping and len(self._live) + self._opening < (
                self.config.max_sessions
            )
            if held:
                self._opening += 1
            # Viewers count against no --max-sessions: one may still join a session shared.
            full = not held and (
                self._stopping or not any(s.waiting or s.viewable for s in self._live.values())
            )
            if not full:
                self._bridges[number] = bridge
        if full:
            self._refuse_full(bridge)
            return
        try:
            self._session(bridge, number, held)
        finally:
            with self._lock:
                self._bridges.pop(number, None)
                if held and bridge.session is None:
                    self._opening -= 1

    def _session(self, bridge: Bridge, number: int, held: bool) -> None:
        """The connection's start, then its session: the one it names, or a new one."""
        target: Tuple[Any, ...] = bridge.ws.target
        target_key = (target[0], id(target[1]), target[2])
        try:
            start = bridge.first()
        except BadMessage as exc:
            bridge.refuse(str(exc))
            return
        except (TimeoutError, socket.timeout):
            bridge.refuse("no start message")
            return
        except Closed:
            return
        size = start["size"]
        key = start.get("session")
        if start.get("join") == "view":
            self._view(bridge, str(key), target_key, held)
            return
        if key is not None and self.config.linger > 0:
            with self._lock:
                found = self._keys.get(key)
            # A session of another container (or engine) is not this URL's to take.
            if (
                found is not None
                and found.lingers  # only such a session's id was ever told
                and found.target_key == target_key
                and found.attach(bridge, size)
            ):
                with self._lock:
                    if held:
                        self._opening -= 1
                    bridge.session = found
                bridge.serve(found)
                return
        session = WebSession(
            number,
            target_key,
            self._opener(target),
            # Only a page that asked (a start with "session") ever gets its id back.
            linger=self.config.linger if "session" in start else 0.0,
            replay=self.config.replay,
            on_end=self._ended,
            on_free=self._free,
            watch=self._watch,
            container=target[3],
            engine=target[4],
            max_viewers=self.config.max_viewers,
            shared_writers=self.config.shared_writers,
        )
        with self._lock:
            # Held at the upgrade, or one freed since (a session whose page was awaited).
            room = held or len(self._live) + self._opening < self.config.max_sessions
            added = room and not self._stopping
            if added:
                if held:
                    self._opening -= 1
                self._live[number] = session
                self._keys[session.key] = session
                bridge.session = session
        if not added:
            self._refuse_full(bridge)
            return
        try:
            session.begin(bridge, size)
        except BadMessage as exc:
            bridge.refuse(str(exc))
        except Closed:
            pass
        bridge.serve(session)

    def _view(self, bridge: Bridge, key: str, target_key: Tuple[Any, ...], held: bool) -> None:
        """A connection that views session ``key`` beside its page; refused (never given a
        session of its own) if there is no such session to view."""
        with self._lock:
            found = self._keys.get(key)
        try:
            joined = (
                found is not None
                and found.lingers  # only such a session's id was ever told
                and found.target_key == target_key
                and found.join(bridge)
            )
        except BadMessage as exc:
            bridge.refuse(str(exc), 1013)
            return
        if not joined:
            bridge.refuse("no such session to view: it has ended, or sharing is off")
            return
        assert found is not None
        with self._lock:
            if held:
                self._opening -= 1
            bridge.session = found
        bridge.watch_session(found)

    def _refuse_full(self, bridge: Bridge) -> None:
        limit = self.config.max_sessions
        try:
            bridge.ws.send(
                error_message(f"this server already runs its maximum of {limit} sessions")
            )
        except Closed:
            return
        bridge.ws.close(1013, "too many sessions")

    def _free(self, session: WebSession) -> None:
        with self._lock:
            self._live.pop(session.number, None)
            self._keys.pop(session.key, None)

    def _recorded(
        self,
        label: str,
        size: Tuple[int, int],
        command: Optional[List[str]],
        make: Callable[[Optional[TabRecording]], WebTerminal],
    ) -> WebTerminal:
        """``make(recording)``, with a new recording when --record is on; a tab that does not
        start leaves none. A recording that cannot be made refuses the tab: with --record every
        tab is recorded."""
        if self.recordings is None:
            return make(None)
        try:
            recording = self.recordings.open(label, size, command)
        except OSError as exc:
            log.warning("cannot create a recording: %s", exc.strerror or type(exc).__name__)
            raise RuntimeError(
                f"its recording cannot be created: {exc.strerror or type(exc).__name__}"
            ) from None
        try:
            return make(recording)
        except BaseException:
            self.recordings.discard(recording)
            raise

    def _opener(self, target: Tuple[Any, ...]) -> Any:
        kind, client, what = target[:3]
        label = target[5]
        argv = self.config.argv()

        def open_exec(size: Tuple[int, int], output: Any, over: Any) -> WebTerminal:
            return self._recorded(
                label, size, argv, lambda rec: exec_recorded(size, output, over, rec)
            )

        def exec_recorded(
            size: Tuple[int, int], output: Any, over: Any, rec: Optional[TabRecording]
        ) -> WebTerminal:
            import docker.errors

            try:
                return WebTerminal.exec(client, what, argv, size, output, over, rec)
            except docker.errors.NotFound:
                if not self._single():
                    raise
            # --exec's container was removed since it was looked up (recreated by compose,
            # say): its name is looked up again, once, and what is found kept for the next tabs.
            assert self.config.exec_container is not None
            try:
                found_client, found = self.engines.resolve(None, self.config.exec_container)
            except LookupError:
                raise LookupError(
                    f"no running container {self.config.exec_container!r} on the engine"
                ) from None
            self._exec_target = (found_client, found.id)
            return WebTerminal.exec(found_client, found.id, argv, size, output, over, rec)

        def open_run(size: Tuple[int, int], output: Any, over: Any) -> WebTerminal:
            command = argv if self.config.command else None
            return self._recorded(
                label, size, command, lambda rec: run_recorded(size, output, over, rec)
            )

        def run_recorded(
            size: Tuple[int, int], output: Any, over: Any, rec: Optional[TabRecording]
        ) -> WebTerminal:
            cid = call(
                client.create_container,
                what,
                argv if self.config.command else None,
                tty=True,
                # With it the SDK sets StdinOnce, as `docker run -i` does. It ends the shell only
                # without a TTY, though: the watchdog (see cli) covers a server killed.
                stdin_open=True,
                labels=self.labels,
                host_config=client.create_host_config(
                    network_mode=self.config.run_network,
                    # Removed as it ends, whoever is still there to see it.
                    auto_remove=True,
                ),
            )["Id"]
            try:
                return WebTerminal.run(client, cid, size, output, over, rec)
            except BaseException:
                call(client.remove_container, cid, force=True)
                raise

        return open_run if kind == "run" else open_exec

    def _ended(self, terminal: WebTerminal) -> None:
        if self.config.run_image is None:
            return
        try:
            call(terminal.client.remove_container, terminal.container, force=True)
        except Exception as exc:  # noqa: BLE001 - already gone is fine
            log.debug("removing %s: %s", terminal.container[:12], exc)


def _select_subprotocol(
    protocol: ServerProtocol, offered: Sequence[Subprotocol]
) -> Optional[Subprotocol]:
    """``threadpty`` when offered (the page's upgrade, which offers its token's beside it: that
    one is never echoed back), else none, as for programs that offer nothing."""
    return Subprotocol(SUBPROTOCOL) if SUBPROTOCOL in offered else None


def _query(path: str, key: str) -> Optional[str]:
    values = parse_qs(urlsplit(path).query).get(key)
    return values[0] if values else None


def _quiet_logger() -> logging.Logger:
    """The library's logger, kept above DEBUG even with --debug: at DEBUG it logs every frame,
    which is every keystroke and every byte of output (they may be passwords)."""
    logger = logging.getLogger("threadpty.web.websockets")
    if not logger.filters:
        logger.addFilter(lambda record: record.levelno > logging.DEBUG)
    return logger
