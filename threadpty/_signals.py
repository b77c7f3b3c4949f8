"""Forwarding the caller's signals to the container, like the Docker CLI's ``--sig-proxy``.

Handlers can only be installed from the main thread, and run there between two bytecodes, so they
only put the signal on a queue; the ``threadpty-signals-<id>`` thread makes the kill API call. Once
the session is over, a handler that is still installed puts the previous handlers back and raises
the signal again, so the caller gets it as if threadpty had never been there.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
from types import FrameType
from typing import Any, Callable, Dict, Optional

log = logging.getLogger("threadpty")

FORWARDED = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
    if hasattr(signal, name)
)
_STOP = -1


class SignalProxy:
    def __init__(self, name: str, kill: Callable[[int], None]) -> None:
        self._kill = kill
        self._queue: "queue.SimpleQueue[int]" = queue.SimpleQueue()
        self._previous: Dict[int, Any] = {}
        self._over = False
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def install(self) -> bool:
        """Install the handlers (main thread only) and start the thread; False if not possible."""
        if threading.current_thread() is not threading.main_thread():
            return False
        for signum in FORWARDED:
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except (OSError, ValueError):
                pass
        self.thread.start()
        return True

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        if self._over:
            self.uninstall()
            signal.raise_signal(signum)
            return
        self._queue.put_nowait(signum)

    def stop(self) -> None:
        """End forwarding; callable from any thread. The handlers go at ``uninstall``."""
        self._over = True
        self._queue.put_nowait(_STOP)

    def uninstall(self) -> None:
        """Put the previous handlers back; only from the main thread."""
        if threading.current_thread() is not threading.main_thread():
            return
        previous, self._previous = self._previous, {}
        for signum, handler in previous.items():
            if signal.getsignal(signum) == self._handle:
                signal.signal(signum, handler if handler is not None else signal.SIG_DFL)

    def _run(self) -> None:
        while True:
            signum = self._queue.get()
            if signum == _STOP:
                return
            try:
                self._kill(signum)
            except Exception as exc:  # noqa: BLE001 - the container may have just ended
                log.debug("threadpty: could not forward signal %d: %s", signum, exc)
