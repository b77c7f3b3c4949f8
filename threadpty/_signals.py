"""Forwarding the caller's signals to the container, like the Docker CLI's ``--sig-proxy``.

There is one handler per signal per process, however many sessions forward at once: the first
subscriber (from the main thread, where handlers can be installed) installs it, and the last one to
leave puts back what was there before - unless the program has installed a handler of its own
since, which is kept. A handler that finds no subscriber (the last one left from another thread,
which may not touch handlers) behaves as the one it replaced would have. Sessions ending in any
order therefore never leave a dead session's handler behind, nor one that calls itself.

Handlers run in the main thread between two bytecodes, so a ``SignalProxy`` only puts the signal on
a queue; its ``threadpty-signals-<id>`` thread makes the kill API call.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
from types import FrameType
from typing import Any, Callable, Dict, Iterable, Optional, Tuple

log = logging.getLogger("threadpty")

FORWARDED = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
    if hasattr(signal, name)
)
_STOP = -1

Subscriber = Callable[[int], None]


class _Dispatcher:
    """The process-wide handlers; subscribers are called in the main thread with the signal."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        # Per signal, a tuple replaced whole: the handler reads it without the lock.
        self._subs: Dict[int, Tuple[Subscriber, ...]] = {}
        self._previous: Dict[int, Any] = {}

    def subscribe(self, fn: Subscriber, signums: Iterable[int] = FORWARDED) -> bool:
        """Call ``fn(signum)`` for each of ``signums``; False if no handler could be installed.

        Installing needs the main thread; a signal whose handler is already ours can be subscribed
        to from any thread.
        """
        main = threading.current_thread() is threading.main_thread()
        with self._lock:
            wanted = [s for s in signums if s in self._previous or main]
            if not wanted:
                return False
            for signum in wanted:
                if signum not in self._previous:
                    try:
                        self._previous[signum] = signal.signal(signum, self._handle)
                    except (OSError, ValueError):
                        continue
                self._subs[signum] = self._subs.get(signum, ()) + (fn,)
            return any(fn in self._subs.get(s, ()) for s in wanted)

    def unsubscribe(self, fn: Subscriber) -> None:
        """Stop calling ``fn``; from the main thread, also put back handlers nobody needs."""
        with self._lock:
            for signum, subs in list(self._subs.items()):
                # Bound methods are made anew at each access: compare them with ==, not is.
                self._subs[signum] = tuple(s for s in subs if s != fn)
            self.release()

    def release(self) -> None:
        """Put back the previous handler of every signal left without subscribers (main thread)."""
        if threading.current_thread() is not threading.main_thread():
            return  # stays installed, behaving as the previous handler, until a main-thread call
        with self._lock:
            for signum in [s for s in self._previous if not self._subs.get(s)]:
                previous = self._previous.pop(signum)
                self._subs.pop(signum, None)
                if signal.getsignal(signum) == self._handle:
                    signal.signal(signum, previous if previous is not None else signal.SIG_DFL)

    def installed(self, signum: int) -> bool:
        return signum in self._previous

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        subs = self._subs.get(signum, ())
        if subs:
            for fn in subs:
                fn(signum)
            return
        # Nobody forwards this signal any more: act as the handler we replaced.
        previous = self._previous.get(signum, signal.SIG_DFL)
        if callable(previous):
            previous(signum, frame)
            return
        if previous == signal.SIG_IGN:
            return
        self.release()  # we are in the main thread: handlers run there
        if signal.getsignal(signum) == self._handle:
            signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)


dispatcher = _Dispatcher()


class SignalProxy:
    """Forwards the ``FORWARDED`` signals this process receives through ``kill(signum)``."""

    def __init__(self, name: str, kill: Callable[[int], None]) -> None:
        self._kill = kill
        self._queue: "queue.SimpleQueue[int]" = queue.SimpleQueue()
        self._subscribed = False
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    @classmethod
    def installed(cls, name: str, kill: Callable[[int], None]) -> Optional["SignalProxy"]:
        """A proxy subscribed and started (see :meth:`install`); None where it cannot be."""
        proxy = cls(name, kill)
        return proxy if proxy.install() else None

    def install(self) -> bool:
        """Subscribe (main thread only) and start the thread; False if not possible."""
        if threading.current_thread() is not threading.main_thread():
            return False
        if not dispatcher.subscribe(self.forward):
            return False
        self._subscribed = True
        self.start()
        return True

    def start(self) -> None:
        """Start the thread only, for a caller that passes signals to ``forward`` itself."""
        self.thread.start()

    def forward(self, signum: int) -> None:
        """Queue ``signum`` for the container; safe inside a signal handler."""
        self._queue.put_nowait(signum)

    def stop(self) -> None:
        """End forwarding; callable from any thread. Signals from now on are the caller's again."""
        if self._subscribed:
            self._subscribed = False
            dispatcher.unsubscribe(self.forward)
        self._queue.put_nowait(_STOP)

    def uninstall(self) -> None:
        """Put the previous handlers back if nobody else forwards (only from the main thread)."""
        if self._subscribed:
            self._subscribed = False
            dispatcher.unsubscribe(self.forward)
        dispatcher.release()

    def _run(self) -> None:
        while True:
            signum = self._queue.get()
            if signum == _STOP:
                return
            try:
                self._kill(signum)
            except Exception as exc:  # noqa: BLE001 - the container may have just ended
                log.debug("could not forward signal %d: %s", signum, exc)
