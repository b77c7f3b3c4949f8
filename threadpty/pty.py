"""dockerpty's ``PseudoTerminal`` and ``WINCHHandler``, as thin layers over a ``Session``."""

from __future__ import annotations

import queue
import threading
from types import TracebackType
from typing import Any, Optional, Tuple, Type

from . import _docker, io, tty
from ._connection import Connection
from ._resize import POLL_INTERVAL
from ._winch import dispatcher
from .operations import ExecOperation, RunOperation, _Operation, exec_create
from .session import Session
from .tty import size as tty_size

# dockerpty.pty's names, so that ``from dockerpty.pty import RunOperation`` (docker-compose) and
# friends work with this module in its place.
Operation = _Operation

__all__ = [
    "ExecOperation",
    "Operation",
    "PseudoTerminal",
    "RunOperation",
    "WINCHHandler",
    "exec_create",
    "io",
    "tty",
]


class WINCHHandler:
    """Calls ``pty.resize()`` whenever the window size changes, while in use.

    dockerpty installed a SIGWINCH handler per instance and resized inside it. This one listens to
    threadpty's process-wide dispatcher (or polls, off the main thread or without SIGWINCH) and
    resizes from a thread of its own, ``threadpty-winch``, so it works from any thread.
    """

    def __init__(self, pty: Any) -> None:
        self.pty = pty
        self.original_handler: Any = None
        self._queue: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self._thread: Optional[threading.Thread] = None
        self._stop = False

    def __enter__(self) -> "WINCHHandler":
        self.start()
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop = False
        poll = not dispatcher.subscribe(self._queue)
        self._thread = threading.Thread(
            target=self._run, args=(poll,), name="threadpty-winch", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        dispatcher.unsubscribe(self._queue)
        self._stop = True
        self._queue.put_nowait(None)
        if thread is not threading.current_thread():
            thread.join()

    def _run(self, poll: bool) -> None:
        last: Optional[Tuple[int, int]] = None
        while not self._stop:
            try:
                self._queue.get(timeout=POLL_INTERVAL if poll else None)
            except queue.Empty:
                pass
            if self._stop:
                return
            current = tty_size(getattr(getattr(self.pty, "operation", None), "stdout", None))
            if poll and current == last:
                continue
            last = current
            try:
                self.pty.resize()
            except Exception:  # noqa: BLE001 - dockerpty ignored resize errors here too
                pass


class PseudoTerminal:
    """Wraps the pseudo-terminal of an operation (``RunOperation`` or ``ExecOperation``)."""

    def __init__(self, client: Any, operation: _Operation) -> None:
        self.client = _docker.api_client(client)
        self.operation = operation

    def sockets(self) -> Connection:
        """Open the operation's connection, so that the caller can start the container after."""
        return self.operation.sockets()

    def start(self, sockets: Optional[Connection] = None) -> Optional[int]:
        """Run the session until it ends; return the exit status (None after a detach)."""
        return Session(self.operation, sockets=sockets).start().join()

    def resize(self, size: Optional[Tuple[int, int]] = None) -> None:
        """Resize the container's TTY to ``size`` (rows, cols), by default the terminal's."""
        if not self.operation.israw():
            return
        size = size or tty_size(self.operation.stdout)
        if size is not None:
            rows, cols = size
            try:
                self.operation.resize(height=rows, width=cols)
            except OSError:
                pass
