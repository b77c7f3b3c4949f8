"""A browser tab's terminal: a session (``WebSession``: the terminal, its replay buffer) and the
WebSocket connection attached to it (``Bridge``).

Two threads carry it: the connection's thread (``threadpty-web-conn-<n>``) reads the page's frames
and writes input straight to the engine, applying resizes and pause/resume as they come; the
terminal's output thread sends output frames straight to the page (blocking under backpressure,
and waiting while the page has paused), keeps the last of it in the replay buffer, and, once the
process has ended, tells the page how. A session that lingers (``--linger``) outlives its
connection: the thread of the connection that ended waits for a page to reattach (whose own
connection's thread then takes the session over) or for the linger time to pass, and ends it.
Keepalive pings, the closing handshake's deadline, the probes of stuck pastes and the lingering
sessions' deadlines are the server's one watch thread's (``LossWatch``), for every tab at once.

A lingering session can also be viewed by other pages (its share link): each viewer's connection
thread reads that page's frames (its input goes to the session only with ``--shared-writers``),
and the output thread hands the viewer its output through a bounded backlog that a thread of the
viewer's own sends (see ``_viewers``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import select
import socket
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

from ._listener import Pending
from ._protocol import (
    BadMessage,
    error_message,
    exit_message,
    parse_control,
    session_message,
    size_message,
)
from ._replay import Replay
from ._sessions import ENDED_CODE, ENDED_REASON, TAKEN_CODE, TAKEN_REASON, SessionView
from ._terminal import WebTerminal
from ._viewers import Viewer, backlog_for
from ._websocket import Closed, WebSocket

log = logging.getLogger("threadpty.web")

# How long a connected page may take to send its first message (the size to start at).
START_TIMEOUT = 30.0
# How often LossWatch looks at the sessions, and how long a write to a session may be stuck
# before the page is pinged to learn whether it is still there.
_TICK = 0.5
_STUCK = 1.0
# The longest a page reattaching or joining as a viewer waits for the session's terminal to
# finish starting (its exec made and started, its first size applied: seconds under load).
_SETTLE_FOR = 120.0


class LossWatch:
    """Tells of pages whose connection was reset or hung up, even while nobody reads it.

    A tab's connection thread can be blocked for good writing a paste to a program that does not
    read its input (``sleep`` in raw mode): then nothing reads the page's socket, and a page that
    goes is never noticed.
    One thread for the whole server waits on every session's socket for a reset or a hang-up
    (epoll's ERR, HUP, RDHUP; never for data) and calls that session's callback.
    Where there is no epoll, it watches nothing.

    A page that goes while its paste is still being sent leaves its FIN behind data nobody reads:
    only something sent to it draws a reset. So twice a second it also ticks every session
    (``Bridge.tick``): a ping from one whose writer has been stuck for a while, the keepalive
    pings, and the cut of a connection whose closing handshake is overdue. A tick never waits.
    It also ends the lingering sessions whose time is up (``at``): their own thread may be stuck
    writing to a program that reads nothing, and cannot look at a clock then.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: Dict[int, Tuple[socket.socket, Callable[[], None], Callable[[], None]]] = {}
        # Lingering sessions' deadlines (see WebSession): key -> (when, callback). One per
        # session at most, so as many as --max-sessions.
        self._timers: Dict[object, Tuple[float, Callable[[], None]]] = {}
        self._epoll = select.epoll() if hasattr(select, "epoll") else None
        self._thread: Optional[threading.Thread] = None
        if self._epoll is not None:
            self._wake_r, self._wake_w = os.pipe()
            self._epoll.register(self._wake_r, select.EPOLLIN)
            self._thread = threading.Thread(
                target=self._run, name="threadpty-web-watch", daemon=True
            )
            self._thread.start()

    def add(
        self, sock: socket.socket, callback: Callable[[], None], tick: Callable[[], None]
    ) -> None:
        if self._epoll is None:
            return
        fd = sock.fileno()
        if fd < 0:
            return
        flags = select.EPOLLRDHUP | select.EPOLLONESHOT
        with self._lock:
            self._watched[fd] = (sock, callback, tick)
            try:
                self._epoll.register(fd, flags)
            except FileExistsError:  # a closed socket's number, taken again
                self._epoll.modify(fd, flags)

    def at(self, key: object, when: float, callback: Callable[[], None]) -> None:
        """Call ``callback`` from the watch thread once ``time.monotonic()`` passes ``when``
        (within a tick), unless ``cancel(key)`` comes first; a later call for the same key
        replaces it. The callback must not wait."""
        if self._epoll is None:
            return
        with self._lock:
            self._timers[key] = (when, callback)

    def cancel(self, key: object) -> None:
        with self._lock:
            self._timers.pop(key, None)

    def remove(self, sock: socket.socket) -> None:
        if self._epoll is None:
            return
        with self._lock:
            for fd, (watched, _, _) in list(self._watched.items()):
                if watched is sock:
                    del self._watched[fd]
                    try:
                        self._epoll.unregister(fd)
                    except (OSError, ValueError):
                        pass  # closed already: epoll forgot it by itself

    def close(self) -> None:
        if self._epoll is None or self._thread is None:
            return
        os.write(self._wake_w, b"x")
        self._thread.join()
        self._epoll.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _run(self) -> None:
        assert self._epoll is not None
        while True:
            events = self._epoll.poll(_TICK)
            for fd, _ in events:
                if fd == self._wake_r:
                    return
                with self._lock:
                    entry = self._watched.pop(fd, None)
                if entry is not None:
                    entry[1]()
            now = time.monotonic()
            with self._lock:
                ticks = [tick for _, _, tick in self._watched.values()]
                due = [k for k, (when, _) in self._timers.items() if when <= now]
                calls = [self._timers.pop(k)[1] for k in due]
            for tick in ticks:
                tick()
            for call in calls:
                call()


class WebSession:
    """One terminal, which may outlive its connections: the terminal, its replay buffer, which
    connection its output goes to, and which connection's thread ends it.

    A session that lingers (``linger`` > 0: the server's ``--linger`` and a page that asked for
    it) goes on without a connection for ``linger`` seconds: its output flows into the replay
    buffer, never held back, until a page attaches again (``attach``) or the time is up. At any
    moment one connection's thread is its *owner*: the one that ends it (hangs it up, frees its
    place), as a tab's thread did before sessions lingered. The owner is the last connection
    attached; a thread whose connection ended lingers on the session's condition while it is
    still the owner, and leaves as soon as another connection takes the session over. So no
    thread is made for a lingering session, and each one that waits has a deadline.
    """

    def __init__(
        self,
        number: int,
        target_key: Tuple[Any, ...],
        opener: Callable[
            [
                Tuple[int, int],
                Callable[[memoryview], None],
                Callable[[Optional[int], Optional[BaseException]], None],
            ],
            WebTerminal,
        ],
        *,
        linger: float = 0.0,
        replay: int = 0,
        on_end: Optional[Callable[[WebTerminal], None]] = None,
        on_free: Optional[Callable[["WebSession"], None]] = None,
        watch: Optional[LossWatch] = None,
        container: str = "",
        engine: Optional[str] = None,
        max_viewers: int = 0,
        shared_writers: bool = False,
    ) -> None:
        self.number = number
        # What a reattaching page must name, beside the token it needs like any connection: 192
        # random bits. It names the session; the token is the credential.
        self.key = secrets.token_urlsafe(24)
        self.target_key = target_key
        self._open = opener
        self.linger = linger
        self._replay = Replay(replay if linger > 0 else 0)
        # Pages viewing it (its share link), beside its own: a tuple replaced whole under
        # _viewers_lock, read without it (by the output thread, for each chunk).
        self.max_viewers = max_viewers
        self.shared_writers = shared_writers
        self._viewers: Tuple["Bridge", ...] = ()
        self._viewers_lock = threading.Lock()
        self._viewers_closed = False
        self._backlog = backlog_for(replay)
        # The terminal's size: its page's (the owner's), which viewers are told and follow.
        self.size: Tuple[int, int] = (24, 80)
        self._on_end = on_end
        self._on_free = on_free
        self._watch = watch
        # Guards _conn, owner, _over, _exit, _gone_at and _generation; lingering owners wait on
        # it for a takeover or the end.
        self._cond = threading.Condition()
        # Held while output is appended to the replay and sent to the connection, and while a
        # reattaching page is sent the replay and becomes the connection: nothing is lost or
        # sent twice between the replay and the output after it.
        self._send_lock = threading.Lock()
        # One input write at a time: a connection taken over may still be inside a write to a
        # program that does not read, and the new one's input must not be interleaved with it.
        self._input_lock = threading.Lock()
        # Set while output may flow; cleared by the page's "pause". Set again whenever the page
        # goes or the session ends, so that an output thread waiting here is never left behind
        # and output with nobody to pause it flows into the replay.
        self._flowing = threading.Event()
        self._flowing.set()
        self._conn: Optional["Bridge"] = None
        self.owner: Optional["Bridge"] = None
        self._over = False
        self._exit: Tuple[Optional[int], Optional[BaseException]] = (None, None)
        self._ending = False
        self._gone_at: Optional[float] = None
        self._generation = 0
        self.terminal: Optional[WebTerminal] = None
        # Set once begin() is through, the terminal started or not: its output (and the id's
        # message) come before, so a page can name the session while it is still starting.
        self._settled = threading.Event()
        # What the index shows of it. The last activity (input or output) is a float replaced
        # whole by either thread, read without a lock: a tick's worth of staleness is harmless.
        self.container = container
        self.engine = engine
        self.started = time.time()
        self._active = time.monotonic()
        # Set once it is over, the hang-up included: what an end from the index waits for.
        self._done = threading.Event()

    @property
    def lingers(self) -> bool:
        return self.linger > 0

    @property
    def viewable(self) -> bool:
        """Whether a page may join it as a viewer now."""
        return self.lingers and not self._ending and len(self._viewers) < self.max_viewers

    @property
    def waiting(self) -> bool:
        """Whether it has no page now (it lingers, waiting for one)."""
        return self._conn is None and not self._over and not self._ending

    # The output thread's side -------------------------------------------------------------

    def _output(self, data: memoryview) -> None:
        # While paused the output thread waits here, so it stops reading the engine's connection
        # and the engine holds the container back: nothing piles up in this process. Only a
        # page can pause, and its going sets the event again.
        if not self._flowing.is_set():
            self._flowing.wait()
        if self._ending:
            return
        self._active = time.monotonic()
        with self._send_lock:
            self._replay.append(data)
            viewers = self._viewers
            if viewers:
                chunk = bytes(data)
                for viewer in viewers:
                    if viewer.viewer is not None:
                        viewer.viewer.output(chunk, self._replay_copy)
            bridge = self._conn
            if bridge is None:
                return
            try:
                bridge.ws.send(data)
            except Closed:
                # The page went while output was on its way: the session goes on without it.
                self._detach(bridge)

    def _replay_copy(self) -> bytes:
        # Under _send_lock (the output thread's, as it feeds a viewer that fell behind).
        return self._replay.snapshot()[0]

    def _over_cb(self, code: Optional[int], error: Optional[BaseException]) -> None:
        """The process has ended (or its connection failed): tell the page, if one is attached,
        and start the close (its connection's thread sees it through); with none, wake the
        lingering owner to end the session. Not called when the session was ended here."""
        with self._send_lock:
            with self._cond:
                self._over = True
                self._exit = (code, error)
                bridge = self._conn
                self._cond.notify_all()
        if bridge is not None and not self._ending:
            bridge.tell_end(code, error)
        if self._ending or isinstance(error, Closed):
            return
        for viewer in self._viewers:
            if viewer.viewer is None:
                continue
            if error is not None:
                message = error_message(f"the session failed: {type(error).__name__}")
                viewer.viewer.finish(1011, "", message)
            else:
                viewer.viewer.finish(1000, "", exit_message(code))

    # Attaching ------------------------------------------------------------------------------

    def begin(self, bridge: "Bridge", size: Tuple[int, int]) -> None:
        """A new session's first connection: tell it the session's id (when it lingers), then
        start the terminal at ``size``. Raises :class:`BadMessage` when it cannot start."""
        with self._cond:
            self.owner = self._conn = bridge
        self.size = size
        try:
            if self.lingers:
                # Before the terminal starts: no output can come before it.
                bridge.ws.send(session_message(self.key, False, self.linger))
            try:
                self.terminal = self._open(size, self._output, self._over_cb)
            except Exception as exc:  # noqa: BLE001 - told to the page, in one line
                log.warning("session %d could not start: %s", self.number, exc)
                raise BadMessage(f"could not start: {getattr(exc, 'explanation', exc)}") from exc
        finally:
            self._settled.set()

    def attach(self, bridge: "Bridge", size: Tuple[int, int]) -> bool:
        """A page reattaching (on ``bridge``'s thread): take the session over, close the page
        attached now (if any) with TAKEN_CODE, send the replay, then redraw at ``size``. False,
        with nothing changed, if the session is over or ending (the page gets a new one)."""
        self._settled.wait(_SETTLE_FOR)
        with self._cond:
            if self._over or self._ending or self.terminal is None:
                return False
            old, self._conn = self._conn, None
            self.owner = bridge
            self._gone_at = None
            self._generation += 1  # a pending expiry is void
            self._flowing.set()
            self._cond.notify_all()  # a lingering owner leaves
        if self._watch is not None:
            self._watch.cancel(self)
        if old is not None and old is not bridge:
            # Within a second, or cut: a send to it (under _send_lock) ends either way.
            old.ws.close(TAKEN_CODE, TAKEN_REASON, wait=1.0)
        with self._send_lock:
            data, _ = self._replay.snapshot()
            try:
                bridge.ws.send(session_message(self.key, True, self.linger))
                if data:
                    bridge.ws.send(data)
            except Closed:
                return True  # gone already: its thread, the owner now, sees it
            with self._cond:
                self._conn = bridge
                over = self._over
        if over:
            bridge.tell_end(*self._exit)
            return True
        terminal = self.terminal
        rows, cols = size
        # Full-screen programs draw only what changes; a size change makes them draw it all
        # (SIGWINCH). The page's own size comes last: its size wins.
        terminal.resize(rows, cols - 1 if cols > 1 else cols + 1)
        terminal.resize(rows, cols)
        self._sized(size)
        return True

    # Viewers --------------------------------------------------------------------------------

    def join(self, bridge: "Bridge") -> bool:
        """A page viewing the session (on ``bridge``'s thread): it gets the ``session`` message,
        the size and the replay, then the output as it comes, through a backlog of its own. False
        if the session is over or ending; raises :class:`BadMessage` when it has its maximum of
        viewers. The page attached now stays."""
        self._settled.wait(_SETTLE_FOR)
        # Under _send_lock: the replay, then the output after it, nothing lost or sent twice.
        with self._send_lock:
            with self._cond:
                if self._over or self._ending or self.terminal is None:
                    return False
            with self._viewers_lock:
                if self._viewers_closed:
                    return False
                if len(self._viewers) >= self.max_viewers:
                    raise BadMessage(
                        f"this session already has its maximum of {self.max_viewers} viewers"
                    )
                ws = bridge.ws
                viewer = Viewer(
                    bridge.number,
                    ws.send,
                    lambda code, reason: ws.close(code, reason),
                    self._backlog,
                    writes=self.shared_writers,
                )
                data, _ = self._replay.snapshot()
                first: List[Union[str, bytes]] = [
                    session_message(
                        self.key, True, self.linger, view=True, write=self.shared_writers
                    ),
                    size_message(*self.size),
                ]
                if data:
                    first.append(data)
                bridge.viewer = viewer
                self._viewers = self._viewers + (bridge,)
            viewer.start(first)
        return True

    def leave(self, bridge: "Bridge") -> None:
        """A viewer's connection has ended; never waits for the output thread."""
        with self._viewers_lock:
            self._viewers = tuple(b for b in self._viewers if b is not bridge)

    def _close_viewers(self, code: int, reason: str = "") -> None:
        """Tell every viewer the session is over (with ``code``), and let none join any more."""
        with self._viewers_lock:
            self._viewers_closed = True
            viewers = self._viewers
        for bridge in viewers:
            if bridge.viewer is not None:
                bridge.viewer.finish(code, reason)

    def _sized(self, size: Tuple[int, int]) -> None:
        """The terminal has ``size`` now: the viewers follow it (their own windows never size
        it)."""
        self.size = size
        message = size_message(*size)
        for bridge in self._viewers:
            if bridge.viewer is not None:
                bridge.viewer.control(message)

    def resize(self, bridge: "Bridge", size: Tuple[int, int]) -> None:
        terminal = self.terminal
        if terminal is None or self.owner is not bridge:
            return  # a page taken over, or a viewer, never sizes the terminal
        terminal.resize(*size)
        self._sized(size)

    def write_shared(self, data: bytes) -> None:
        """A viewer's input: to the terminal with --shared-writers, else dropped."""
        terminal = self.terminal
        if terminal is None or not self.shared_writers or self._ending:
            return
        self._active = time.monotonic()
        with self._input_lock:
            terminal.write(data)

    # A connection's end ---------------------------------------------------------------------

    def _detach(self, bridge: "Bridge") -> None:
        """``bridge`` is no longer the session's page (its connection ended); if it owns the
        session, the linger time starts. Never waits."""
        with self._cond:
            if self._conn is bridge:
                self._conn = None
                self._flowing.set()
            elif self._conn is not None:
                return  # another page is attached
            if self.owner is not bridge or not self.lingers or self._gone_at is not None:
                return
            self._gone_at = now = time.monotonic()
            self._generation += 1
            generation = self._generation
        if self._watch is not None:
            self._watch.at(self, now + self.linger, lambda: self._expire(generation))

    def gone(self, bridge: "Bridge") -> None:
        """``bridge``'s page is gone (a reset, a hang-up, its socket closed), seen from another
        thread than its own, which may be stuck writing input; never waits. A session that
        does not linger ends now (its thread wakes); one that does goes on without the page."""
        if not self.lingers:
            self.abort()
            return
        self._detach(bridge)

    def _expire(self, generation: int) -> None:
        """From the watch thread: the linger time is up, unless a page attached since."""
        with self._cond:
            if generation != self._generation or self._conn is not None or self._over:
                return
            self._ending = True
            self._cond.notify_all()
        self.abort()  # a stuck owner's write fails, and its thread ends the session

    def release(self, bridge: "Bridge") -> None:
        """On ``bridge``'s thread, once its connection has ended: if it still owns the session,
        linger (wait for a takeover, the end or the deadline), then end the session unless
        another connection took it over."""
        self._detach(bridge)
        with self._cond:
            while self.owner is bridge:
                if self._over or self._ending or self.terminal is None or not self.lingers:
                    break
                if self._gone_at is None:  # not marked gone by _detach: from now, then
                    self._gone_at = time.monotonic()
                left = self._gone_at + self.linger - time.monotonic()
                if left <= 0:
                    self._ending = True
                    break
                self._cond.wait(left)
            if self.owner is not bridge:
                return  # taken over: the new connection's thread owns it now
        self._finish()

    def _finish(self) -> None:
        self._ending = True
        self._flowing.set()
        self._close_viewers(1000)
        if self._watch is not None:
            self._watch.cancel(self)
        terminal = self.terminal
        if terminal is not None:
            terminal.end()
        try:
            if self._on_free is not None:
                # The session is over: its place is free while its processes are hung up.
                self._on_free(self)
            if terminal is not None:
                terminal.close()
                if self._on_end is not None:
                    self._on_end(terminal)
        finally:
            self._done.set()

    # From other threads ---------------------------------------------------------------------

    def abort(self) -> None:
        """End the terminal now, so that a connection thread blocked writing to it wakes (that
        thread then ends the session as for any other end). Never waits."""
        self._ending = True
        self._flowing.set()
        terminal = self.terminal
        if terminal is not None:
            terminal.end()

    def end(self) -> None:
        """Ended from the index (another page): the terminal ends now, its page (if any) is told
        by our close (code ENDED_CODE), and the owner's thread hangs the session up. Never waits
        long: a page that does not read has its connection cut."""
        with self._cond:
            self._ending = True
            bridge = self._conn
            self._cond.notify_all()
        self.abort()
        self._close_viewers(ENDED_CODE, ENDED_REASON)
        if bridge is not None:
            bridge.ws.close(ENDED_CODE, ENDED_REASON, wait=1.0)

    def stop(self) -> None:
        """The server is stopping: the page is told so (1001), and the owner's thread, lingering
        or not, ends the session."""
        with self._cond:
            self._ending = True
            bridge = self._conn
            self._cond.notify_all()
        self._close_viewers(1001)
        if bridge is not None:
            bridge.ws.close(1001, wait=0.1)

    def cut(self) -> None:
        """The shutdown's last resort (see WebServer._cut_all): the page's socket cut, the
        terminal ended, whatever they were blocked on."""
        bridge = self._conn
        if bridge is not None:
            bridge.ws.cut()
        for viewer in self._viewers:
            viewer.ws.cut()
        self.abort()

    def wait(self, timeout: float) -> bool:
        """Wait until the session is over and its processes hung up; False if not in time."""
        return self._done.wait(timeout)

    def view(self, now: float) -> SessionView:
        """What the index shows of it; ``now`` from ``time.monotonic``."""
        container = self.container
        terminal = self.terminal
        if not container:
            # A --run tab's container, once made.
            container = terminal.container[:12] if terminal is not None else "(starting)"
        return SessionView(
            id=self.number,
            container=container,
            engine=self.engine,
            started=self.started,
            idle=now - self._active,
            viewers=(0 if self._conn is None else 1) + len(self._viewers),
        )

    # The owner's side (its connection's thread) ---------------------------------------------

    def write(self, bridge: "Bridge", data: bytes) -> None:
        terminal = self.terminal
        if terminal is None or self.owner is not bridge:
            return  # a connection taken over: what it still sends goes nowhere
        self._active = time.monotonic()
        with self._input_lock:
            terminal.write(data)

    def control(self, bridge: "Bridge", kind: str) -> None:
        if self.owner is not bridge:
            return
        if kind == "pause":
            self._flowing.clear()
        elif kind == "resume":
            self._flowing.set()


class Bridge:
    """One page's connection to a session: its thread reads the page's frames and feeds the
    session; the watch ticks it."""

    def __init__(self, ws: WebSocket, number: int, watch: Optional[LossWatch] = None) -> None:
        self.ws = ws
        self.number = number
        self._watch = watch
        self.session: Optional[WebSession] = None
        # Set when the connection views a session rather than owns it (see WebSession.join).
        self.viewer: Optional[Viewer] = None
        self._writing_since: Optional[float] = None
        self._probed_at = 0.0

    def first(self) -> Dict[str, Any]:
        """The page's start message (START_TIMEOUT at most); raises BadMessage, Closed, or
        a timeout."""
        ws = self.ws
        ws.socket.settimeout(START_TIMEOUT)
        first = ws.recv()
        ws.socket.settimeout(None)
        if first is None:
            raise Closed()
        if not isinstance(first, str):
            raise BadMessage('the first message must be {"type":"start",...}')
        start = parse_control(first)
        if start["type"] != "start":
            raise BadMessage('the first message must be {"type":"start",...}')
        return start

    def serve(self, session: WebSession) -> None:
        """Pump the page's frames into ``session`` (attached already) until the connection
        ends; then give it up (``WebSession.release``: linger, or end it)."""
        self.session = session
        try:
            if session.owner is self and not session._ending and session.terminal is not None:
                with self._watched():
                    self._pump(session)
        except Closed:
            pass
        finally:
            session.release(self)

    @contextlib.contextmanager
    def _watched(self) -> Iterator[None]:
        """While the connection is read here: the watch thread, and the socket's close, tell
        ``gone``; after it, nothing is left to wake."""
        sock = self.ws.socket
        if self._watch is not None:
            self._watch.add(sock, self.gone, self.tick)
        if isinstance(sock, Pending):
            sock.when_closed(self.gone)
        try:
            yield
        finally:
            if self._watch is not None:
                self._watch.remove(sock)
            if isinstance(sock, Pending):
                sock.when_closed(None)

    def watch_session(self, session: WebSession) -> None:
        """A viewer's connection (joined already): read the page's frames until it ends, taking
        its input only with --shared-writers and never its size or pause; then leave, and end
        the viewer's thread."""
        ws = self.ws
        viewer = self.viewer
        assert viewer is not None
        self.session = session
        try:
            with self._watched():
                self._read_as_viewer(session, viewer)
        except Closed:
            pass
        finally:
            session.leave(self)
            viewer.stop(ws.cut)

    def _read_as_viewer(self, session: WebSession, viewer: Viewer) -> None:
        ws = self.ws
        while True:
            message = ws.recv()
            if message is None:
                return
            if isinstance(message, bytes):
                if viewer.writes:
                    self._writing_since = time.monotonic()
                    try:
                        session.write_shared(message)
                    except BrokenPipeError:
                        pass  # it has ended: the viewer is told by the output thread
                    finally:
                        self._writing_since = None
                continue
            try:
                parse_control(message)
            except BadMessage as exc:
                viewer.control(error_message(str(exc)))
            # A viewer's resize, pause and resume change nothing: the size is the owner's,
            # and a slow viewer is resynchronised rather than heeded.

    def gone(self) -> None:
        """The page is gone (from the watch thread, or the socket's close). Never waits."""
        if self.viewer is not None:
            self.ws.cut()  # its thread sees the end, and leaves
            return
        session = self.session
        if session is not None:
            session.gone(self)

    def tell_end(self, code: Optional[int], error: Optional[BaseException]) -> None:
        """The session's process has ended: tell the page how, and close."""
        if isinstance(error, Closed):
            return  # a Closed error: the page went while output was on its way
        if error is not None:
            session = self.session.number if self.session is not None else self.number
            log.warning("session %d ended with an error: %s", session, type(error).__name__)
            self.send_quietly(error_message(f"the session failed: {type(error).__name__}"))
            self.ws.close(1011)
            return
        self.send_quietly(exit_message(code))
        self.ws.close(1000)

    def tick(self) -> None:
        """From the watch thread, twice a second; never waits (see LossWatch)."""
        now = time.monotonic()
        ws = self.ws
        viewer = self.viewer
        if ws.overdue(now) or (viewer is not None and viewer.overdue(now)):
            ws.cut()
            return
        since = self._writing_since
        if since is not None and now - since >= _STUCK and now - self._probed_at >= _STUCK:
            # Input stuck: only a send draws a reset from a page that went meanwhile.
            self._probed_at = now
            ws.ping_now()
        ws.keepalive(now)

    def _pump(self, session: WebSession) -> None:
        ws = self.ws
        recv = ws.recv
        terminal = session.terminal
        assert terminal is not None
        # A resize waits while more messages are already read (a window dragged sends a burst):
        # only the last is applied, once none is left or before the input that follows it.
        resize: Optional[Tuple[int, int]] = None
        while True:
            if resize is not None and not ws.buffered:
                self._resize(session, terminal, resize)
                resize = None
            message = recv()
            if message is None:
                return
            if isinstance(message, bytes):
                if resize is not None:
                    self._resize(session, terminal, resize)
                    resize = None
                self._writing_since = time.monotonic()
                try:
                    session.write(self, message)
                except BrokenPipeError:
                    pass  # it has ended: the output thread tells the page how
                finally:
                    self._writing_since = None
                continue
            try:
                control = parse_control(message)
            except BadMessage as exc:
                self.send_quietly(error_message(str(exc)))
                continue
            kind = control["type"]
            if kind == "resize":
                resize = control["size"]
            else:
                session.control(self, kind)
            # A second "start" changes nothing: the terminal has its size.

    def _resize(self, session: WebSession, terminal: WebTerminal, size: Tuple[int, int]) -> None:
        session.resize(self, size)

    def refuse(self, message: str, code: int = 1008) -> None:
        self.send_quietly(error_message(message))
        self.ws.close(code, message[:100])

    def send_quietly(self, text: str) -> None:
        try:
            self.ws.send(text)
        except Closed:
            pass
