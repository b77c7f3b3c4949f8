"""One browser tab's terminal: a WebSocket connection joined to one threadpty session.

Threads, all named ``threadpty-web-*-<n>``: the connection's handler thread (websockets starts one
per connection) reads the socket and feeds the session's input, resizes and pause/resume; the
session's output thread sends output frames (blocking under backpressure, and waiting while the
page has paused); a waiter thread joins the session and sends the exit status.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Optional, Tuple

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection

from ._protocol import ProtocolError, error_message, exit_message, parse_control
from ._terminal import Terminal

log = logging.getLogger("threadpty.web")

# How long a connected page may take to send its first message (the size to start at).
START_TIMEOUT = 30.0


class Bridge:
    def __init__(
        self,
        ws: ServerConnection,
        number: int,
        opener: Callable[[Tuple[int, int], Callable[[bytes], None]], Terminal],
        on_end: Optional[Callable[[Terminal], None]] = None,
    ) -> None:
        self.ws = ws
        self.number = number
        self._open = opener
        self._on_end = on_end
        # Set while output may flow; cleared by "pause". Set again on the way out, so that an
        # output thread waiting here is never left behind.
        self._flowing = threading.Event()
        self._flowing.set()
        self._ending = False
        self.terminal: Optional[Terminal] = None

    # The output thread's side -------------------------------------------------------------

    def _output(self, data: bytes) -> None:
        # While paused the output thread waits here, so it stops reading the engine's connection
        # and the engine holds the container back: nothing piles up in this process.
        self._flowing.wait()
        if self._ending:
            return
        self.ws.send(data)

    # The handler thread's side ------------------------------------------------------------

    def run(self) -> None:
        ws = self.ws
        waiter: Optional[threading.Thread] = None
        try:
            first = ws.recv(timeout=START_TIMEOUT)
            if not isinstance(first, str):
                raise ProtocolError('the first message must be {"type":"start",...}')
            start = parse_control(first)
            if start["type"] != "start":
                raise ProtocolError('the first message must be {"type":"start",...}')
            try:
                self.terminal = self._open(start["size"], self._output)
            except Exception as exc:  # noqa: BLE001 - told to the page, in one line
                log.warning("session %d could not start: %s", self.number, exc)
                raise ProtocolError(f"could not start: {getattr(exc, 'explanation', exc)}") from exc
            waiter = threading.Thread(
                target=self._wait, name=f"threadpty-web-wait-{self.number}", daemon=True
            )
            waiter.start()
            self._pump(self.terminal)
        except ProtocolError as exc:
            self._refuse(str(exc))
        except TimeoutError:
            self._refuse("no start message")
        except ConnectionClosed:
            pass
        finally:
            self._ending = True
            self._flowing.set()
            if self.terminal is not None:
                self.terminal.close()
            if waiter is not None:
                waiter.join()
            if self.terminal is not None and self._on_end is not None:
                self._on_end(self.terminal)

    def _pump(self, terminal: Terminal) -> None:
        for message in self.ws:
            if isinstance(message, bytes):
                try:
                    terminal.write(message)
                except BrokenPipeError:
                    pass  # it has ended: the waiter tells the page how
                continue
            try:
                control = parse_control(message)
            except ProtocolError as exc:
                self._send_quietly(error_message(str(exc)))
                continue
            kind = control["type"]
            if kind == "resize":
                terminal.resize(*control["size"])
            elif kind == "pause":
                self._flowing.clear()
            elif kind == "resume":
                self._flowing.set()
            # A second "start" changes nothing: the session has its size.

    def _wait(self) -> None:
        assert self.terminal is not None
        try:
            code = self.terminal.join()
        except ConnectionClosed:
            return  # the page went while output was on its way
        except Exception as exc:  # noqa: BLE001 - the page hears of it; the log gets no data
            log.warning("session %d ended with an error: %s", self.number, type(exc).__name__)
            self._send_quietly(error_message(f"the session failed: {type(exc).__name__}"))
            self.ws.close(1011)
            return
        if self._ending:
            return  # ended by the page (or the server): nobody to tell
        self._send_quietly(exit_message(code))
        self.ws.close(1000)

    def _refuse(self, message: str) -> None:
        self._send_quietly(error_message(message))
        self.ws.close(1008, message[:100])

    def _send_quietly(self, text: str) -> None:
        try:
            self.ws.send(text)
        except ConnectionClosed:
            pass
