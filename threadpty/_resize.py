"""The coordinator thread: applies window sizes to the container, newest first, few calls.

It sleeps on a queue fed by the SIGWINCH dispatcher (or wakes every 250 ms to poll the size where
there is no signal, as the Docker CLI does on Windows). A signal wakes it, it gathers the rest of
the burst (until the signals pause), and applies only the size the window has then: a window
being dragged costs one API call per pause, and the last size always wins.
The first resize is retried with backoff: an exec cannot be resized until its process runs.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Callable, Optional, Tuple

log = logging.getLogger("threadpty")

POLL_INTERVAL = 0.25
# A burst of signals (a window being dragged) is gathered until it pauses this long, or for at most
# BURST_MAX, and then costs one API call.
BURST_QUIET = 0.03
BURST_MAX = 0.1
STOP = object()
FIRST_TRIES = 10

Size = Tuple[int, int]


class Resizer:
    """Runs ``resize(rows, cols)`` whenever ``get_size()`` changes; one thread per session."""

    def __init__(
        self,
        name: str,
        get_size: Callable[[], Optional[Size]],
        resize: Callable[[int, int], None],
        is_gone: Callable[[], bool],
        redraw: bool = False,
    ) -> None:
        self.queue: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self._get_size = get_size
        self._resize = resize
        self._is_gone = is_gone
        self._redraw = redraw
        self._poll = False
        self._stopping = False
        self.calls = 0
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self, poll: bool) -> None:
        self._poll = poll
        self.thread.start()

    def stop(self) -> None:
        self._stopping = True
        self.queue.put_nowait(STOP)

    def notify(self) -> None:
        self.queue.put_nowait(True)

    def _run(self) -> None:
        size = self._get_size()
        if size is not None and self._redraw:
            # Attaching to a running program: a size change makes it redraw (the CLI's trick).
            self._apply((size[0] + 1, size[1] + 1), first=True)
        applied = self._apply(size, first=True) if size is not None else None
        while True:
            try:
                item = self.queue.get(timeout=POLL_INTERVAL if self._poll else None)
            except queue.Empty:
                item = None
            if item is STOP or self._stopping or (item is not None and self._gather()):
                return
            size = self._get_size()
            if size is not None and size != applied:
                applied = self._apply(size, first=applied is None)

    def _gather(self) -> bool:
        """Take the rest of a burst of signals off the queue; True if a stop came with it."""
        end = time.monotonic() + BURST_MAX
        while True:
            wait = min(BURST_QUIET, end - time.monotonic())
            if wait <= 0:
                return False
            try:
                if self.queue.get(timeout=wait) is STOP:
                    return True
            except queue.Empty:
                return False

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
                    # Wait on the queue, not sleep: a stop must not wait for the backoff.
                    try:
                        item = self.queue.get(timeout=0.01 * (attempt + 1))
                        if item is STOP:
                            self._stopping = True
                            return None
                    except queue.Empty:
                        pass
                    size = self._get_size() or size
                    continue
                log.warning("threadpty: failed to resize the tty to %dx%d: %s", *size, exc)
        return None
