"""The coordinator thread: applies window sizes to the container, newest first, few calls.

Sizes come from two places: the caller's terminal (a SIGWINCH from the dispatcher, or a poll
every 250 ms where there is no signal, as the Docker CLI does on Windows) and the program
(``Session.resize``). The latest request of either wins.

A lone request is applied at once. A burst (a window being dragged, a program resizing in a loop)
costs two calls: the first request at once, then, once requests pause for ``BURST_QUIET`` (or
after ``BURST_MAX``), the size wanted then. The first size is retried with backoff: an exec cannot
be resized until its process runs.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Callable, Optional, Tuple

log = logging.getLogger("threadpty")

POLL_INTERVAL = 0.25
BURST_QUIET = 0.03
BURST_MAX = 0.1
FIRST_TRIES = 10
STOP = object()
WINCH = object()  # "read the terminal's size now"

Size = Tuple[int, int]


class Resizer:
    """Runs ``resize(rows, cols)`` for each new size wanted; one thread per session.

    ``terminal_size`` reads the caller's terminal (None when the session has none); ``initial``
    is the first size when the program gave one.
    """

    def __init__(
        self,
        name: str,
        resize: Callable[[int, int], None],
        is_gone: Callable[[], bool],
        terminal_size: Optional[Callable[[], Optional[Size]]] = None,
        initial: Optional[Size] = None,
        redraw: bool = False,
    ) -> None:
        self.queue: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self._resize = resize
        self._is_gone = is_gone
        self._terminal_size = terminal_size
        self._initial = initial
        self._redraw = redraw
        self._poll = False
        self._stopping = False
        self.calls = 0
        # Set while no size the program asked for is waiting to be applied (the first one
        # included): input waits for it, so what a program types after a resize() (or straight
        # after start) is read by the process at that size. The terminal's own changes are not
        # counted: typing during a window drag is never held back.
        self.settled = threading.Event()
        self._lock = threading.Lock()
        self._pending = 0  # requests made, not yet applied
        self._taken = 0  # of those, taken off the queue (only this thread counts)
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self, poll: bool = False) -> None:
        """``poll``: read the terminal's size every POLL_INTERVAL (no SIGWINCH to be had)."""
        self._poll = poll and self._terminal_size is not None
        self.thread.start()

    def stop(self) -> None:
        self._stopping = True
        self.settled.set()
        self.queue.put_nowait(STOP)

    def request(self, rows: int, cols: int) -> None:
        with self._lock:
            self._pending += 1
            self.settled.clear()
        self.queue.put_nowait((rows, cols))

    def _get(self, timeout: Optional[float]) -> Any:
        item = self.queue.get(timeout=timeout)
        if isinstance(item, tuple):
            self._taken += 1
        return item

    def _settle(self) -> None:
        """Everything taken so far has been applied (or given up on)."""
        with self._lock:
            self._pending -= self._taken
            self._taken = 0
            if not self._pending and not self._stopping:
                self.settled.set()

    def _wanted(self, item: Any) -> Optional[Size]:
        if isinstance(item, tuple):
            return item
        return self._terminal_size() if self._terminal_size is not None else None

    def _run(self) -> None:
        size = self._initial or self._wanted(WINCH)
        if size is not None and self._redraw:
            # Attaching to a running program: a size change makes it redraw (the CLI's trick).
            self._apply((size[0] + 1, size[1] + 1), first=True)
        applied = self._apply(size, first=True) if size is not None else None
        while True:
            self._settle()
            try:
                item = self._get(POLL_INTERVAL if self._poll else None)
            except queue.Empty:
                item = WINCH  # a poll
            if item is STOP or self._stopping:
                return
            wanted = self._wanted(item)
            if wanted is None or wanted == applied:
                continue
            applied = self._apply(wanted, first=applied is None) or applied
            # Whatever else comes in the burst is applied once, when it pauses.
            last = self._gather()
            if last is STOP:
                return
            if last is not None:
                wanted = self._wanted(last)
                if wanted is not None and wanted != applied:
                    applied = self._apply(wanted, first=False) or applied

    def _gather(self) -> Any:
        """The last request of a burst (None if none came); STOP if a stop came with it."""
        end = time.monotonic() + BURST_MAX
        last = None
        while True:
            wait = min(BURST_QUIET, end - time.monotonic())
            if wait <= 0:
                return last
            try:
                item = self._get(wait)
            except queue.Empty:
                return last
            if item is STOP:
                return STOP
            last = item

    def _apply(self, size: Size, first: bool) -> Optional[Size]:
        tries = FIRST_TRIES if first else 1
        for attempt in range(tries):
            if self._stopping:
                return None
            try:
                self.calls += 1
                self._resize(*size)
                return size
            except Exception as exc:  # noqa: BLE001 - the engine's errors vary by version
                if self._stopping or self._is_gone():
                    return None
                if attempt + 1 < tries:
                    # Wait on the queue, not sleep: a stop must not wait for the backoff, and a
                    # newer size replaces the one being retried.
                    try:
                        item = self._get(0.01 * (attempt + 1))
                        if item is STOP:
                            self._stopping = True
                            return None
                        size = self._wanted(item) or size
                    except queue.Empty:
                        pass
                    continue
                log.warning("failed to resize the tty to %dx%d: %s", *size, exc)
        return None
