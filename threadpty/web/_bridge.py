"""One browser tab's terminal: a WebSocket connection joined to one threadpty session.

Two threads carry it: the connection's thread (``threadpty-web-conn-<n>``) reads the page's frames
and writes input straight to the engine, applying resizes and pause/resume as they come; the
terminal's output thread sends output frames straight to the page (blocking under backpressure,
and waiting while the page has paused) and, once the process has ended, tells the page how.
Keepalive pings, the closing handshake's deadline and the probes of stuck pastes are the server's
one watch thread's (``LossWatch``), for every tab at once.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import time
from typing import Callable, Dict, Optional, Tuple

from ._listener import Pending
from ._protocol import BadMessage, error_message, exit_message, parse_control
from ._sessions import ENDED_CODE, ENDED_REASON, SessionView
from ._terminal import WebTerminal
from ._websocket import Closed, WebSocket

log = logging.getLogger("threadpty.web")

# How long a connected page may take to send its first message (the size to start at).
START_TIMEOUT = 30.0
# How often LossWatch looks at the sessions, and how long a write to a session may be stuck
# before the page is pinged to learn whether it is still there.
_TICK = 0.5
_STUCK = 1.0


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
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: Dict[int, Tuple[socket.socket, Callable[[], None], Callable[[], None]]] = {}
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
            with self._lock:
                ticks = [tick for _, _, tick in self._watched.values()]
            for tick in ticks:
                tick()


class Bridge:
    def __init__(
        self,
        ws: WebSocket,
        number: int,
        opener: Callable[
            [
                Tuple[int, int],
                Callable[[memoryview], None],
                Callable[[Optional[int], Optional[BaseException]], None],
            ],
            WebTerminal,
        ],
        on_end: Optional[Callable[[WebTerminal], None]] = None,
        watch: Optional[LossWatch] = None,
        on_session_end: Optional[Callable[[], None]] = None,
        container: str = "",
        engine: Optional[str] = None,
    ) -> None:
        self.ws = ws
        self.number = number
        self._open = opener
        self._on_end = on_end
        self._watch = watch
        self._on_session_end = on_session_end
        # Set while output may flow; cleared by "pause". Set again on the way out, so that an
        # output thread waiting here is never left behind.
        self._flowing = threading.Event()
        self._flowing.set()
        self._ending = False
        self._writing_since: Optional[float] = None
        self._probed_at = 0.0
        self.terminal: Optional[WebTerminal] = None
        # What the index shows of it. The last activity (input or output) is a float replaced
        # whole by either thread, read without a lock: a tick's worth of staleness is harmless.
        self.container = container
        self.engine = engine
        self.started = time.time()
        self._active = time.monotonic()
        # Set once run() has finished, the hang-up included: what an end from the index waits for.
        self._done = threading.Event()

    # The output thread's side -------------------------------------------------------------

    def _output(self, data: memoryview) -> None:
        # While paused the output thread waits here, so it stops reading the engine's connection
        # and the engine holds the container back: nothing piles up in this process.
        if not self._flowing.is_set():
            self._flowing.wait()
        if self._ending:
            return
        self._active = time.monotonic()
        self.ws.send(data)

    def _over(self, code: Optional[int], error: Optional[BaseException]) -> None:
        """The process has ended (or its connection failed): tell the page how and start the
        close (the connection's thread sees it through). Not called when the tab was ended here
        (by the page or the server): nobody is left to tell."""
        if self._ending or isinstance(error, Closed):
            return  # a Closed error: the page went while output was on its way
        if error is not None:
            log.warning("session %d ended with an error: %s", self.number, type(error).__name__)
            self._send_quietly(error_message(f"the session failed: {type(error).__name__}"))
            self.ws.close(1011)
            return
        self._send_quietly(exit_message(code))
        self.ws.close(1000)

    # The connection thread's side ---------------------------------------------------------

    def run(self) -> None:
        ws = self.ws
        try:
            ws.socket.settimeout(START_TIMEOUT)
            first = ws.recv()
            ws.socket.settimeout(None)
            if first is None:
                return
            if not isinstance(first, str):
                raise BadMessage('the first message must be {"type":"start",...}')
            start = parse_control(first)
            if start["type"] != "start":
                raise BadMessage('the first message must be {"type":"start",...}')
            try:
                self.terminal = terminal = self._open(start["size"], self._output, self._over)
            except Exception as exc:  # noqa: BLE001 - told to the page, in one line
                log.warning("session %d could not start: %s", self.number, exc)
                raise BadMessage(f"could not start: {getattr(exc, 'explanation', exc)}") from exc
            if self._ending:
                return  # ended from the index while it started: hung up below
            if self._watch is not None:
                self._watch.add(ws.socket, self.abort, self.tick)
            if isinstance(ws.socket, Pending):
                ws.socket.when_closed(self.abort)
            self._pump(terminal)
        except BadMessage as exc:
            self._refuse(str(exc))
        except (TimeoutError, socket.timeout):
            self._refuse("no start message")
        except Closed:
            pass
        finally:
            if self._watch is not None:
                self._watch.remove(ws.socket)
            if isinstance(ws.socket, Pending):
                ws.socket.when_closed(None)  # ended here; nothing to wake when it closes
            self._ending = True
            self._flowing.set()
            if self.terminal is not None:
                self.terminal.end()
            try:
                if self._on_session_end is not None:
                    # The session is over: its place is free while its processes are hung up.
                    self._on_session_end()
                if self.terminal is not None:
                    self.terminal.close()
                    if self._on_end is not None:
                        self._on_end(self.terminal)
            finally:
                self._done.set()

    def abort(self) -> None:
        """The page is gone: end the terminal now, so that a connection thread blocked writing
        to it wakes (that thread then ends the tab as for any other end). Never waits."""
        self._ending = True
        self._flowing.set()
        terminal = self.terminal
        if terminal is not None:
            terminal.end()

    def end(self) -> None:
        """Ended from the index (another page): the terminal ends now, the page is told by our
        close (code ENDED_CODE) and the connection's thread then hangs the session up as for a
        closed tab. Never waits long: a page that does not read has its connection cut."""
        self.abort()
        self.ws.close(ENDED_CODE, ENDED_REASON, wait=1.0)

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
        )

    def tick(self) -> None:
        """From the watch thread, twice a second; never waits (see LossWatch)."""
        now = time.monotonic()
        ws = self.ws
        if ws.overdue(now):
            ws.cut()
            return
        since = self._writing_since
        if since is not None and now - since >= _STUCK and now - self._probed_at >= _STUCK:
            # Input stuck: only a send draws a reset from a page that went meanwhile.
            self._probed_at = now
            ws.ping_now()
        ws.keepalive(now)

    def _pump(self, terminal: WebTerminal) -> None:
        ws = self.ws
        recv = ws.recv
        # A resize waits while more messages are already read (a window dragged sends a burst):
        # only the last is applied, once none is left or before the input that follows it.
        resize: Optional[Tuple[int, int]] = None
        while True:
            if resize is not None and not ws.buffered:
                terminal.resize(*resize)
                resize = None
            message = recv()
            if message is None:
                return
            if isinstance(message, bytes):
                if resize is not None:
                    terminal.resize(*resize)
                    resize = None
                self._writing_since = self._active = time.monotonic()
                try:
                    terminal.write(message)
                except BrokenPipeError:
                    pass  # it has ended: the output thread tells the page how
                finally:
                    self._writing_since = None
                continue
            try:
                control = parse_control(message)
            except BadMessage as exc:
                self._send_quietly(error_message(str(exc)))
                continue
            kind = control["type"]
            if kind == "resize":
                resize = control["size"]
            elif kind == "pause":
                self._flowing.clear()
            elif kind == "resume":
                self._flowing.set()
            # A second "start" changes nothing: the terminal has its size.

    def _refuse(self, message: str) -> None:
        self._send_quietly(error_message(message))
        self.ws.close(1008, message[:100])

    def _send_quietly(self, text: str) -> None:
        try:
            self.ws.send(text)
        except Closed:
            pass
