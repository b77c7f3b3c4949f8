"""The coordinator thread: applies window sizes to the container, newest first, few calls.

Sizes come from two places: the caller's terminal (a SIGWINCH from the dispatcher, or a poll
every 250 ms where there is no signal, as the Docker CLI does on Windows) and the program
(``Session.resize``). The latest request of either wins.

A lone request is applied at once. A burst (a window being dragged, a program resizing in a loop)
costs two calls: the first request at once, then, once requests pause for ``BURST_QUIET`` (or
after ``BURST_MAX``), the size wanted then.

The first size is retried with backoff until it applies or the session ends: an exec cannot be
resized until its process runs, and under load that can take seconds. Where the engine took the
first size with the start (``ConsoleSize``, API 1.42+) there is nothing to retry. Failures go to
the ``threadpty`` logger (which has a ``NullHandler``): never straight to the program's stderr.

The policy is :class:`ResizePlan`, which knows no thread, queue or engine and reads the time from
the clock it is given; :class:`Resizer` is the thread that feeds it and makes the calls it asks for.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
import time
from typing import Any, Callable, List, Optional, Tuple

from ._winch import dispatcher

log = logging.getLogger("threadpty")

POLL_INTERVAL = 0.25
BURST_QUIET = 0.03
BURST_MAX = 0.1
# Backoff between tries of the first size: from FIRST_DELAY, doubling, to FIRST_DELAY_MAX.
FIRST_DELAY = 0.005
FIRST_DELAY_MAX = 0.25
# A first size still not applied after this long is logged (once); the tries go on.
FIRST_WARN_AFTER = 5.0
STOP = object()
# "Read the terminal's size now": a poll. Any item on the queue that is not a (rows, cols) tuple
# means this, the SIGWINCH dispatcher's token (``_winch.WINCH``) included.
READ_SIZE = object()

Size = Tuple[int, int]


class Failure(enum.Enum):
    """What a failed resize call comes to (:meth:`ResizePlan.failed`), for the log."""

    GONE = "gone"  # the process has ended: no error, nothing more to try
    DROPPED = "dropped"  # a later size failed: given up, logged as a warning
    RETRY = "retry"  # the first size, tried again after a backoff
    LATE = "late"  # the same, past FIRST_WARN_AFTER: logged as a warning, once


class _Phase(enum.Enum):
    BEGIN = "begin"  # nothing decided yet: the first size is read at the first ``due``
    APPLY = "apply"  # a size is due, at ``_retry_at``
    GATHER = "gather"  # a burst: its last request is kept until requests pause
    IDLE = "idle"  # waiting for a request


class ResizePlan:
    """Which size to apply when: the resize policy, with no thread, queue or engine of its own.

    Its owner (:class:`Resizer`) loops: it applies what :meth:`due` returns and reports back with
    :meth:`applied` or :meth:`failed`; otherwise it waits at most :meth:`next_wakeup` seconds for
    an item and gives it to :meth:`take`, or calls :meth:`waited` if none came. ``read_size``
    reads the caller's terminal (None: there is none) and ``clock`` tells the time
    (``time.monotonic``; a test gives its own). ``initial`` is the size the program gave before
    the start, ``current`` the size the engine already has (given with the start, then not set
    again), ``redraw`` nudges the first size once, so that a program already running repaints.
    ``poll``: an idle plan reads the terminal every ``POLL_INTERVAL`` (no SIGWINCH to be had).

    The count of sizes the program asked for and not yet applied (:meth:`requested`,
    :meth:`settle`) is written from two threads: the owner makes those calls under its lock.
    """

    def __init__(
        self,
        read_size: Optional[Callable[[], Optional[Size]]] = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        initial: Optional[Size] = None,
        current: Optional[Size] = None,
        redraw: bool = False,
        poll: bool = False,
    ) -> None:
        self._read_size = read_size
        self._clock = clock
        self._initial = initial
        self._redraw = redraw
        self.current = current  # the container's size, as far as is known
        self.poll = poll
        # False while the first size is still being tried: input then waits longer for it.
        self.first_done = False
        self._phase = _Phase.BEGIN
        self._firsts: List[Tuple[Size, bool]] = []  # first sizes still to apply: (size, kept)
        # The size due, whether it is tried until it applies (a first size) or once, whether it
        # is the container's once applied (not the nudge), and whether a burst opens after it.
        self._size: Size = (0, 0)
        self._retry = False
        self._kept = True
        self._opens_burst = False
        self._retry_at = 0.0
        self._delay = FIRST_DELAY
        self._since = 0.0  # when the tries of the size due began
        self._warned = False
        self._burst_end = 0.0
        self._quiet_at = 0.0
        self._last: Any = None  # the last item of a burst, read when it ends: the newest wins
        self._pending = 0  # requests made, not yet applied
        self._taken = 0  # of those, taken off the queue

    # The program's requests, counted until applied -------------------------------------------

    def requested(self) -> None:
        """The program asked for a size: it counts until applied or given up on."""
        self._pending += 1

    def settle(self) -> bool:
        """Whether no size the program asked for waits: once idle, all taken is done with."""
        if self._phase is not _Phase.IDLE:
            return False
        self._pending -= self._taken
        self._taken = 0
        return not self._pending

    # The owner's loop ------------------------------------------------------------------------

    def due(self) -> Optional[Size]:
        """The size to apply now, if one is."""
        now = self._clock()
        if self._phase is _Phase.BEGIN:
            self._begin(now)
        if self._phase is _Phase.GATHER and now >= min(self._quiet_at, self._burst_end):
            last, self._last = self._last, None
            wanted = self._resolve(last) if last is not None else None
            if wanted is not None and wanted != self.current:
                self._due(wanted, now, retry=False, opens_burst=False)
            else:
                self._phase = _Phase.IDLE
        if self._phase is _Phase.APPLY and now >= self._retry_at:
            return self._size
        return None

    def next_wakeup(self) -> Optional[float]:
        """How long the owner may wait for an item before it calls :meth:`due` again (None:
        until one comes)."""
        now = self._clock()
        if self._phase is _Phase.APPLY:
            return max(0.0, self._retry_at - now)
        if self._phase is _Phase.GATHER:
            return max(0.0, min(self._quiet_at, self._burst_end) - now)
        return POLL_INTERVAL if self.poll else None

    def waited(self) -> None:
        """The wait ran out with no item: when idle and polling, that is a poll."""
        if self._phase is _Phase.IDLE and self.poll:
            self.take(READ_SIZE)

    def take(self, item: Any) -> None:
        """An item off the queue: a (rows, cols) the program asked for, or anything else for
        the terminal's size."""
        now = self._clock()
        if isinstance(item, tuple):
            self._taken += 1
        if self._phase is _Phase.BEGIN:
            self._begin(now)
        if self._phase is _Phase.GATHER:
            self._last = item
            self._quiet_at = now + BURST_QUIET
        elif self._phase is _Phase.APPLY:
            # Waiting to try a first size again: a newer one replaces it, tried at once.
            self._size = self._resolve(item) or self._size
            self._retry_at = now
        else:
            wanted = self._resolve(item)
            if wanted is not None and wanted != self.current:
                self._due(wanted, now, retry=self.current is None, opens_burst=True)

    def applied(self, size: Size) -> None:
        """The call for ``size`` succeeded."""
        if self._kept:
            self.current = size
        self._done(self._clock())

    def failed(self, gone: bool) -> Failure:
        """The call for the size due failed (``gone``: the process has ended)."""
        now = self._clock()
        if gone or not self._retry:
            self._done(now)
            return Failure.GONE if gone else Failure.DROPPED
        late = not self._warned and now - self._since >= FIRST_WARN_AFTER
        self._warned = self._warned or late
        self._retry_at = now + self._delay
        self._delay = min(self._delay * 2, FIRST_DELAY_MAX)
        return Failure.LATE if late else Failure.RETRY

    @property
    def idle(self) -> bool:
        """Nothing due and no burst open: the owner waits for a request."""
        return self._phase is _Phase.IDLE

    # Inside ----------------------------------------------------------------------------------

    def _resolve(self, item: Any) -> Optional[Size]:
        if isinstance(item, tuple):
            return item
        return self._read_size() if self._read_size is not None else None

    def _begin(self, now: float) -> None:
        first = self._initial or self._resolve(READ_SIZE)
        if first is not None and self._redraw:
            # Attaching to a running program: a size change makes it redraw (the CLI's trick).
            self._firsts.append(((first[0] + 1, first[1] + 1), False))
        if first is not None and first == self.current:
            pass  # the engine took it with the start
        else:
            self.current = None
            if first is not None:
                self._firsts.append((first, True))
        self._done(now)

    def _due(self, size: Size, now: float, *, retry: bool, opens_burst: bool) -> None:
        self._phase = _Phase.APPLY
        self._size = size
        self._retry = retry
        self._opens_burst = opens_burst
        self._retry_at = self._since = now
        self._delay = FIRST_DELAY
        self._warned = False

    def _done(self, now: float) -> None:
        """The size due is applied or given up on (or there was none): what comes next."""
        if not self.first_done:
            if self._firsts:
                size, self._kept = self._firsts.pop(0)
                self._due(size, now, retry=True, opens_burst=False)
                return
            self.first_done = True
            self._kept = True
            self._phase = _Phase.IDLE
        elif self._phase is _Phase.APPLY and self._opens_burst:
            # Whatever else comes in the burst is applied once, when it pauses.
            self._phase = _Phase.GATHER
            self._burst_end = now + BURST_MAX
            self._quiet_at = now + BURST_QUIET
            self._last = None
        else:
            self._phase = _Phase.IDLE


class Resizer:
    """Runs ``resize(rows, cols)`` for each new size wanted; one thread per session.

    ``terminal_size`` reads the caller's terminal (None when the session has none); ``initial``
    is the first size when the program gave one; ``applied`` the size the engine already has
    (given with the start), which is then not set again. The thread only waits and makes the
    calls: which size, and when, is its :class:`ResizePlan`'s.
    """

    def __init__(
        self,
        name: str,
        resize: Callable[[int, int], None],
        is_gone: Callable[[], bool],
        terminal_size: Optional[Callable[[], Optional[Size]]] = None,
        initial: Optional[Size] = None,
        redraw: bool = False,
        applied: Optional[Size] = None,
    ) -> None:
        self.queue: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self.plan = ResizePlan(terminal_size, initial=initial, current=applied, redraw=redraw)
        self._resize = resize
        self._is_gone = is_gone
        self._follows_terminal = terminal_size is not None
        self.subscribed = False  # SIGWINCH comes from the dispatcher (see follow)
        self._stopping = False
        self.calls = 0
        # Set while no size the program asked for is waiting to be applied (the first one
        # included): input waits for it, so what a program types after a resize() (or straight
        # after start) is read by the process at that size. The terminal's own changes are not
        # counted: typing during a window drag is never held back.
        self.settled = threading.Event()
        self._lock = threading.Lock()  # the plan's count of requests, with ``settled``
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def first_done(self) -> bool:
        """False while the first size is still being tried: input then waits longer for it."""
        return self.plan.first_done

    def start(self, poll: bool = False) -> None:
        """``poll``: read the terminal's size every POLL_INTERVAL (no SIGWINCH to be had)."""
        self.plan.poll = poll and self._follows_terminal
        self.thread.start()

    def follow(self) -> None:
        """Start, following the caller's terminal (if there is one): SIGWINCH from the
        process-wide dispatcher where it can be had (the main thread, or one installed by
        ``sigwinch()``), else a poll every POLL_INTERVAL."""
        self.subscribed = self._follows_terminal and dispatcher.subscribe(self.queue)
        self.start(poll=not self.subscribed)

    def stop(self) -> None:
        if self.subscribed:
            dispatcher.unsubscribe(self.queue)
        self._stopping = True
        self.settled.set()
        self.queue.put_nowait(STOP)

    def request(self, rows: int, cols: int) -> None:
        with self._lock:
            self.plan.requested()
            self.settled.clear()
        self.queue.put_nowait((rows, cols))

    def _run(self) -> None:
        plan = self.plan
        while True:
            size = plan.due()
            if size is not None:
                if self._stopping:
                    return
                self._apply(size)
                continue
            if plan.idle:
                with self._lock:
                    if plan.settle() and not self._stopping:
                        self.settled.set()
            if self._stopping:
                return  # the stop may have been taken off the queue while a size was retried
            # Wait on the queue, not sleep: a stop must not wait for a backoff, and a newer size
            # replaces the one being retried.
            try:
                item = self.queue.get(timeout=plan.next_wakeup())
            except queue.Empty:
                plan.waited()
                continue
            if item is STOP:
                return
            plan.take(item)

    def _apply(self, size: Size) -> None:
        try:
            self.calls += 1
            self._resize(*size)
        except Exception as exc:  # noqa: BLE001 - the engine's errors vary by version
            if self._stopping:
                return
            failure = self.plan.failed(self._is_gone())
            if failure is Failure.DROPPED:
                log.warning("failed to resize the tty to %dx%d: %s", *size, exc)
            elif failure is Failure.LATE:
                log.warning(
                    "the tty's first size %dx%d is not applied after %.0f s (%s); still trying",
                    *size,
                    FIRST_WARN_AFTER,
                    exc,
                )
            elif failure is Failure.RETRY:
                log.debug("first size %dx%d not applied yet: %s", *size, exc)
        else:
            self.plan.applied(size)
