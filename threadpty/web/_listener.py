"""The server's listening socket: it outlives running out of descriptors, and it holds at most a
set number of connections that have not yet become sessions.

The server's accept loop calls :meth:`Listener.accept`, which returns only a connection it may
take:

- While ``max_pending`` accepted connections are still in their handshake (an HTTP request, or a
  WebSocket upgrade not yet handed to a session), it waits for one of them to finish; the ones
  beyond wait in the kernel's backlog, costing this process nothing. Idle connections would
  otherwise each hold a thread for the handshake's timeout.
- When ``accept`` fails for want of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM), or
  would leave fewer than ``HEADROOM`` descriptors free, it says so in the log (once a minute at
  most), backs off briefly and tries again: it raises only once the socket is closed, which is
  the server's way to stop its loop.
- A connection still pending ``lifetime`` seconds after it was accepted is cut (shut down, so
  that whatever thread is blocked on it wakes): a client that sends its request and then never
  reads the answer cannot hold a place for ever.

It depends on nothing of the WebSocket library.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import threading
import time
from typing import Any, Callable, Dict, Optional, Tuple

log = logging.getLogger("threadpty.web")

# Out of a resource for now; another try after a pause may succeed.
_EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
# The one connection is lost (reset before it was accepted, refused by a firewall rule): the next.
_LOST = frozenset(
    {
        errno.ECONNABORTED,
        errno.EPROTO,
        errno.EPERM,
        errno.ENETDOWN,
        errno.ENOPROTOOPT,
        errno.EHOSTDOWN,
        errno.ENONET,
        errno.EHOSTUNREACH,
        errno.EOPNOTSUPP,
        errno.ENETUNREACH,
    }
)
# How long accept waits at a time, so that it sees the socket closed by another thread.
_POLL = 0.5
_BACKOFF_FIRST = 0.05
_BACKOFF_MOST = 1.0
_WARN_EVERY = 60.0
# Descriptors left free whenever a connection is accepted (see _room_after).
HEADROOM = 16


def _room_after(fd: int) -> bool:
    """Whether HEADROOM more descriptors can still be opened beside the connection ``fd``.

    A connection needs more than its socket (a session its engine connections, a tab's end its
    hang-up's): one taken with the very last
    descriptor would fail a moment later somewhere less able to say so. Tried by duplicating
    ``fd`` and closing the copies, which costs a few system calls and counts nothing.
    """
    copies = []
    try:
        for _ in range(HEADROOM):
            copies.append(os.dup(fd))
    except OSError as exc:
        if exc.errno in _EXHAUSTED:
            return False
        raise
    finally:
        for copy in copies:
            os.close(copy)
    return True


class Pending(socket.socket):
    """An accepted connection; it gives its place back when it is closed or has upgraded."""

    _listener: Optional["Listener"] = None
    _on_close: Optional[Callable[[], None]] = None

    def when_closed(self, callback: Optional[Callable[[], None]]) -> None:
        """Call ``callback`` when the socket is closed (by whoever: a keepalive timeout too);
        None: no longer."""
        self._on_close = callback

    def upgraded(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener._release(self)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.upgraded()
            callback, self._on_close = self._on_close, None
            if callback is not None:
                callback()


class Listener(socket.socket):
    """A listening socket (from ``sock``, which it takes over) with the bounds above."""

    def __init__(self, sock: socket.socket, max_pending: int, lifetime: float) -> None:
        super().__init__(sock.family, sock.type, sock.proto, fileno=sock.detach())
        self.settimeout(_POLL)
        self.max_pending = max_pending
        self.lifetime = lifetime
        self._cond = threading.Condition()
        self._pending: Dict[Pending, float] = {}  # connection -> when to cut it
        self._shut = False
        self._warned: Dict[str, float] = {}
        self._reaper = threading.Thread(target=self._reap, name="threadpty-web-reaper", daemon=True)
        self._reaper.start()

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    def accept(self) -> Tuple[socket.socket, Any]:
        delay = _BACKOFF_FIRST
        while True:
            with self._cond:
                if len(self._pending) >= self.max_pending and not self._shut:
                    self._warn(
                        "full",
                        "%d connections are in their handshake, the most allowed "
                        "(--max-pending); new ones wait",
                        self.max_pending,
                    )
                while len(self._pending) >= self.max_pending and not self._shut:
                    self._cond.wait()
                if self._shut:
                    raise OSError(errno.EBADF, "the server has stopped listening")
            try:
                fd, addr = self._accept()  # type: ignore[attr-defined]
                if not _room_after(fd):
                    os.close(fd)
                    raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))
            # socket.timeout is TimeoutError from 3.10 on; a class of its own on 3.9.
            except (socket.timeout, TimeoutError, BlockingIOError, InterruptedError):
                continue
            except OSError as exc:
                if exc.errno in _EXHAUSTED:
                    with self._cond:
                        self._warn(
                            "exhausted",
                            "cannot accept connections for now (%s): backing off",
                            exc.strerror or exc,
                        )
                        if not self._shut:
                            self._cond.wait(delay)
                    delay = min(delay * 2, _BACKOFF_MOST)
                    continue
                if exc.errno in _LOST and not self._shut:
                    continue
                raise
            delay = _BACKOFF_FIRST
            conn = Pending(self.family, self.type, self.proto, fileno=fd)
            conn.setblocking(True)
            with self._cond:
                conn._listener = self
                self._pending[conn] = time.monotonic() + self.lifetime
                self._cond.notify_all()  # the reaper may have nothing to wait for until now
            return conn, addr

    def close(self) -> None:
        with self._cond:
            self._shut = True
            self._cond.notify_all()
        super().close()

    def cut_pending(self) -> None:
        """Shut down every connection still in its handshake (the server is stopping): whatever
        thread is blocked on one wakes. Their places go as they close."""
        with self._cond:
            pending = list(self._pending)
        for conn in pending:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _release(self, conn: Pending) -> None:
        with self._cond:
            if self._pending.pop(conn, None) is not None:
                self._cond.notify_all()

    def _reap(self) -> None:
        with self._cond:
            while not self._shut:
                now = time.monotonic()
                late = [c for c, when in self._pending.items() if when <= now]
                for conn in late:
                    self._pending[conn] = float("inf")  # cut once; its place goes when it closes
                    try:
                        conn.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                soonest = min(self._pending.values(), default=float("inf"))
                self._cond.wait(None if soonest == float("inf") else max(0.0, soonest - now))

    def _warn(self, key: str, message: str, *args: Any) -> None:
        """Log ``message`` at most once a minute for ``key``: a flood must not flood the log.
        Called with the lock held."""
        now = time.monotonic()
        if now - self._warned.get(key, -_WARN_EVERY) >= _WARN_EVERY:
            self._warned[key] = now
            log.warning(message, *args)


def raise_descriptor_limit() -> Tuple[int, int]:
    """Raise this process's soft limit on open descriptors to its hard limit; return both after.

    Every session holds a few descriptors (its WebSocket, its engine connection): the soft limit
    of 1024 most shells start with is reached long before the hard limit the system allows.
    """
    try:
        import resource
    except ImportError:  # not on this system (Windows): nothing to raise
        return -1, -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft >= hard:
        return soft, hard
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ValueError, OSError) as exc:  # some systems cap below the hard limit (macOS)
        log.debug("could not raise the descriptor limit from %d to %d: %s", soft, wanted, exc)
        return soft, hard
    return wanted, hard
