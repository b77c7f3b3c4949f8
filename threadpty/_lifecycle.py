"""Where a session is in its life, and what ended it: the record every thread of it reads.

A session goes NEW → STARTING → RUNNING → ENDING → ENDED and only ever forward; whatever ends it
first (the output's end, a detach, ``close()``, an error, the reader going away) is its one
outcome, an :class:`Ending`. :class:`Lifecycle` keeps both under one lock and lets the first
ending through; the session (``session.py``) decides when each step happens and, for the first
ending, wakes every thread.
"""

from __future__ import annotations

import contextlib
import enum
import threading
from typing import Any, Callable, Iterator, Optional


class State(enum.Enum):
    """Where a session is in its life (:attr:`Session.state`); it only ever moves forward."""

    NEW = "new"
    STARTING = "starting"
    RUNNING = "running"
    ENDING = "ending"
    ENDED = "ended"


class Ending(enum.Enum):
    """What ended a session; the first cause is its only one."""

    EXIT = "exit"  # the output ended: the process exited (its status is then fetched)
    DETACH = "detach"  # the detach keys
    CLOSE = "close"  # close(), from any thread
    ERROR = "error"  # an error in any of its threads, or in start()
    BROKEN = "broken"  # whoever read the output has gone (``| head``)


class Cancelled(Exception):
    """``close()`` came while ``start()`` was still under way."""


class Lifecycle:
    """A session's state and its one ending, under ``lock``.

    ``wake`` is called once, by the first :meth:`end`, outside the lock: it does the ending's
    wake-ups. Read ``state``, ``ending`` and ``error`` from any thread without the lock: each is
    one assignment, made under it.
    """

    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake
        # The state, the ending, ``closing``, the first error, and what the session sets
        # together with them (its connection; the first size before the start).
        self.lock = threading.Lock()
        self.state = State.NEW
        self.ending: Optional[Ending] = None
        self.closing = False  # close() came (while starting: start() ends the session)
        self.error: Optional[BaseException] = None  # the first error of any of its threads
        self.conn: Any = None  # the connection, once open (a ``Channel``)

    @property
    def ended(self) -> bool:
        """Whether it has an ending (it may still be collecting its threads)."""
        return self.ending is not None

    @property
    def running(self) -> bool:
        """Started and not yet ended (starting, running or ending)."""
        return self.state in (State.STARTING, State.RUNNING, State.ENDING)

    def begin(self) -> None:
        """NEW → STARTING; ``RuntimeError`` if it has been started before."""
        with self.lock:
            if self.state is not State.NEW:
                raise RuntimeError("a session can be started only once")
            self.state = State.STARTING

    def opened(self, conn: Any) -> None:
        """The start has opened ``conn``; :class:`Cancelled` if ``close()`` came meanwhile."""
        with self.lock:
            self.conn = conn
            if self.closing:
                raise Cancelled()

    def close(self) -> Optional[State]:
        """``close()`` came: the state it found (None, and nothing done, before the start).

        During the start it aborts the connection, if open: the start sees ``closing`` at its
        next step and ends the session itself."""
        with self.lock:
            if self.state is State.NEW:
                return None
            self.closing = True
            state, conn = self.state, self.conn
        if state is State.STARTING and conn is not None:
            conn.abort()
        return state

    @contextlib.contextmanager
    def go(self) -> Iterator[None]:
        """STARTING → RUNNING, and the block (which starts the threads) under the lock, so that
        ``close()`` finds either no thread or every one started; :class:`Cancelled` instead if
        ``close()`` came."""
        with self.lock:
            if self.closing:
                raise Cancelled()
            self.state = State.RUNNING
            yield

    def end(self, why: Ending) -> bool:
        """Record ``why`` unless it has ended already, and then wake everything; whether this
        call was the first."""
        with self.lock:
            if self.ending is not None:
                return False
            self.ending = why
            if self.state in (State.STARTING, State.RUNNING):
                self.state = State.ENDING
        self._wake()
        return True

    def fail(self, exc: BaseException) -> None:
        """End by an error; the first error is the one reported."""
        with self.lock:
            if self.error is None:
                self.error = exc
        self.end(Ending.ERROR)

    def collected(self) -> None:
        """→ ENDED: its threads are collected."""
        with self.lock:
            self.state = State.ENDED
