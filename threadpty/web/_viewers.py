"""A viewer of a shared session: a page that joined another tab's session through its share
link, and what it is sent.

The session's one output thread feeds every viewer (``Viewer.output``) as it feeds the replay
buffer, under the session's send lock, and never waits for one: each viewer has its own bounded
backlog and one thread of its own (``threadpty-web-view-<n>``) that sends it to the page, blocking
as long as that page does not read. A viewer whose backlog would pass its bound is
*resynchronised*: the backlog is dropped and replaced by a ``resync`` message and a fresh copy
of the replay buffer (which starts at a clean boundary), after which output goes on from there.
One that falls behind again before it has caught up is dropped: told why, and closed. So a
slow viewer costs at most its bound in memory and never holds back the container, the owner's
page or the other viewers.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable, Deque, List, Optional, Tuple, Union

from ._protocol import error_message, resync_message

# The close code and reason of a viewer dropped for falling behind (private use: README.rst).
DROPPED_CODE = 4002
DROPPED_REASON = "dropped: this view fell behind"
# How many times a viewer may fall behind past its bound without catching up in between: the
# first is a resync, the next one a drop.
MAX_BEHIND = 2
# A viewer's backlog is at least this, whatever the replay bound (with ``--replay 0`` too).
MIN_BACKLOG = 64 * 1024
# How long a viewer that is being closed (dropped, or its session over) may take to take its
# last messages before its connection is cut.
CLOSE_GRACE = 5.0

Item = Union[str, bytes]


def backlog_for(replay: int) -> int:
    """A viewer's bound in bytes: room for a full replay and as much live output after it."""
    return 2 * max(replay, MIN_BACKLOG)


class Viewer:
    """One viewer's backlog and the thread that sends it.

    ``send`` sends one message to the page (blocking while it does not read; raises any exception
    once it is gone); ``close`` starts the connection's closing handshake with a code and reason.
    ``limit`` bounds the bytes queued (output and replays; control messages are a few bytes).
    """

    def __init__(
        self,
        number: int,
        send: Callable[[Item], None],
        close: Callable[[int, str], None],
        limit: int,
        *,
        writes: bool = False,
    ) -> None:
        self.number = number
        self.limit = limit
        # Whether the server lets viewers type (--shared-writers): told to the page, and what
        # the connection's thread obeys.
        self.writes = writes
        self._send = send
        self._close = close
        # Guards everything below; a leaf (nothing is taken under it). The output thread holds
        # it only to queue, the viewer's thread only to take.
        self._cond = threading.Condition()
        self._items: Deque[Item] = deque()
        self._queued = 0
        self._behind = 0
        self.resyncs = 0
        self._closing: Optional[Tuple[int, str]] = None
        self.closing_since: Optional[float] = None
        self._thread = threading.Thread(
            target=self._run, name=f"threadpty-web-view-{number}", daemon=True
        )

    def start(self, first: List[Item]) -> None:
        """Queue ``first`` (the session message, the size, the replay) and start sending."""
        with self._cond:
            for item in first:
                self._put(item)
        self._thread.start()

    @property
    def closing(self) -> bool:
        return self._closing is not None

    # The output thread's side: never waits ------------------------------------------------

    def output(self, data: bytes, replay: Callable[[], bytes]) -> None:
        """Queue output (``data``, already in the replay buffer); past the bound, resynchronise
        with ``replay()`` (the replay buffer's clean copy, which ends with ``data``) or drop."""
        with self._cond:
            if self._closing is not None:
                return
            if self._queued + len(data) <= self.limit:
                self._put(data)
                return
            self._behind += 1
            self._items.clear()
            self._queued = 0
            if self._behind >= MAX_BEHIND:
                self._put(error_message(DROPPED_REASON))
                self._end(DROPPED_CODE, DROPPED_REASON)
                return
            self.resyncs += 1
            self._put(resync_message())
            self._put(replay())

    def control(self, text: str) -> None:
        """Queue a control message (the size); it goes in order with the output."""
        with self._cond:
            if self._closing is None:
                self._put(text)

    def finish(self, code: int, reason: str = "", last: Optional[str] = None) -> None:
        """The session is over (or the server stops): send ``last`` (the exit message) after
        what is queued, then close with ``code``. Never waits."""
        with self._cond:
            if self._closing is not None:
                return
            if last is not None:
                self._put(last)
            self._end(code, reason)

    def _put(self, item: Item) -> None:
        self._items.append(item)
        if isinstance(item, bytes):
            self._queued += len(item)
        self._cond.notify()

    def _end(self, code: int, reason: str) -> None:
        self._closing = (code, reason)
        self.closing_since = time.monotonic()
        self._cond.notify()

    def overdue(self, now: float) -> bool:
        """Whether it has been closing for longer than CLOSE_GRACE (a page that reads nothing):
        then its connection is cut (see Bridge.tick)."""
        since = self.closing_since
        return since is not None and now - since > CLOSE_GRACE

    # The viewer's thread --------------------------------------------------------------------

    def _run(self) -> None:
        items = self._items
        while True:
            with self._cond:
                while not items and self._closing is None:
                    self._cond.wait()
                if not items:
                    break
                item = items.popleft()
                if isinstance(item, bytes):
                    self._queued -= len(item)
            try:
                self._send(item)
            except Exception:  # noqa: BLE001 - the page is gone: nothing more to send
                with self._cond:
                    if self._closing is None:
                        self._end(1001, "")
                    items.clear()
                    self._queued = 0
                return
            with self._cond:
                if not items:
                    self._behind = 0  # caught up: a later fall behind is a resync again
        closing = self._closing
        assert closing is not None
        self._close(*closing)

    def stop(self, cut: Callable[[], None], timeout: float = CLOSE_GRACE) -> None:
        """End the thread (on the viewer's connection thread, once the connection has ended):
        it sends what is left within ``timeout`` or the connection is cut (``cut``)."""
        with self._cond:
            if self._closing is None:
                self._end(1000, "")
        if not self._thread.is_alive():
            return
        self._thread.join(timeout)
        if self._thread.is_alive():
            cut()
            self._thread.join()
