"""One SIGWINCH handler for the whole process, shared by every live session.

Signal handlers can only be installed from the main thread and there is one per signal, so the
handler is installed once, when the first subscriber comes from the main thread (or through
``install``), chains to the handler it replaced, and is put back when the last subscriber leaves.
The handler only puts a token on each subscriber's ``SimpleQueue`` (reentrant, lock-free); the
resize itself happens in the sessions' coordinator threads, never inside the handler.
"""

from __future__ import annotations

import queue
import signal
import threading
from types import FrameType
from typing import Any, Optional, Tuple

from . import _platform

WINCH = object()  # the token a signal puts on a queue


class _Dispatcher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # A tuple, replaced whole: the handler reads it without a lock.
        self._queues: Tuple["queue.SimpleQueue[Any]", ...] = ()
        self._installed = False
        self._previous: Any = None
        self._pins = 0  # install() calls still in force

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        queues, previous = self._queues, self._previous
        for q in queues:
            q.put_nowait(WINCH)
        if not queues and not self._pins and self._lock.acquire(blocking=False):
            # The last session left from another thread, where handlers cannot be changed:
            # handlers run in the main thread, so the first signal after it puts the old one back.
            try:
                self._uninstall_locked()
            finally:
                self._lock.release()
        if callable(previous):
            previous(signum, frame)

    def _install_locked(self) -> bool:
        if self._installed:
            return True
        if not _platform.have_sigwinch():
            return False
        if threading.current_thread() is not threading.main_thread():
            return False
        self._previous = signal.signal(signal.SIGWINCH, self._handle)
        self._installed = True
        return True

    def _uninstall_locked(self) -> None:
        if not self._installed or self._queues or self._pins:
            return
        if threading.current_thread() is not threading.main_thread():
            return  # stays installed, forwarding to the previous handler, until a main-thread exit
        if signal.getsignal(signal.SIGWINCH) == self._handle:
            signal.signal(signal.SIGWINCH, self._previous)
        self._installed = False
        self._previous = None

    def subscribe(self, q: "queue.SimpleQueue[Any]") -> bool:
        """Deliver SIGWINCH to ``q``; False when no handler can be had (caller should poll)."""
        with self._lock:
            if not self._install_locked():
                return False
            self._queues = self._queues + (q,)
            return True

    def unsubscribe(self, q: "queue.SimpleQueue[Any]") -> None:
        with self._lock:
            self._queues = tuple(x for x in self._queues if x is not q)
            self._uninstall_locked()

    def settle(self) -> None:
        """Put the caller's handler back if nothing uses ours any more (main thread only).

        Sessions call it from ``join``/``close``: their last unsubscribe may have run on a
        thread of theirs, where the handler could not be changed.
        """
        with self._lock:
            self._uninstall_locked()

    def install(self) -> bool:
        with self._lock:
            ok = self._install_locked()
            if ok:
                self._pins += 1
            return ok

    def uninstall(self) -> None:
        with self._lock:
            if self._pins:
                self._pins -= 1
            self._uninstall_locked()

    @property
    def installed(self) -> bool:
        return self._installed


dispatcher = _Dispatcher()


class sigwinch:  # noqa: N801 - used like a function, as a context manager
    """Install threadpty's SIGWINCH dispatcher for the duration of a ``with`` block.

    Call it from the main thread when sessions will be started from other threads: a session
    started off the main thread can only get window-size signals if the dispatcher is already
    installed; otherwise it polls the size every 250 ms. The previous handler is put back (and
    still called meanwhile). Outside the main thread, or without SIGWINCH, it does nothing and
    ``installed`` is False.
    """

    def __init__(self) -> None:
        self.installed = False

    def __enter__(self) -> "sigwinch":
        self.installed = dispatcher.install()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.installed:
            dispatcher.uninstall()
            self.installed = False
