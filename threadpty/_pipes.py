"""``PIPE`` streams: file objects a program reads a session's output from and writes its input to.

Output goes through a bounded buffer: when the program reads slower than the container writes, the
session's output thread waits in ``put``, stops reading the connection, and the engine's own flow
control holds the container back. Memory stays at ``limit`` bytes per pipe whatever the pace.
"""

from __future__ import annotations

import io
import threading
from collections import deque
from typing import Any, Callable, Deque, Optional

DEFAULT_LIMIT = 1024 * 1024


class _Sentinel:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return f"threadpty.{self._name}"


PIPE: Any = _Sentinel("PIPE")
STDOUT: Any = _Sentinel("STDOUT")


class OutputPipe(io.RawIOBase):
    """The raw side of ``session.stdout``/``session.stderr``; wrapped in a ``BufferedReader``.

    ``readinto`` blocks until output arrives and returns 0 at its end. Closing it tells the
    session that nobody reads any more: the session then ends as a pipeline does when its reader
    goes away.
    """

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        super().__init__()
        if limit < 1:
            raise ValueError(f"bufsize must be positive, got {limit}")
        self._limit = limit
        self._chunks: Deque[bytes] = deque()
        self._held = 0
        self._ended = False
        self._aborted = False
        self._gone = False  # the reader closed it
        self._cond = threading.Condition()

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        view = memoryview(buf).cast("B")
        with self._cond:
            while not self._chunks and not self._ended:
                if self._gone:
                    raise ValueError("read of closed file")
                self._cond.wait()
            n = 0
            while self._chunks and n < len(view):
                chunk = self._chunks[0]
                take = min(len(chunk), len(view) - n)
                view[n : n + take] = chunk[:take]
                n += take
                if take == len(chunk):
                    self._chunks.popleft()
                else:
                    self._chunks[0] = chunk[take:]
            self._held -= n
            self._cond.notify_all()
            return n

    def close(self) -> None:
        with self._cond:
            self._gone = True
            self._chunks.clear()
            self._held = 0
            self._cond.notify_all()
        super().close()

    # The session's side -----------------------------------------------------------------------

    def put(self, data: bytes) -> None:
        """Hold ``data`` for the reader, waiting while the pipe is full.

        Raises ``BrokenPipeError`` once the reader has closed the pipe or the session aborts it.
        """
        pos = 0
        with self._cond:
            while pos < len(data):
                while self._held >= self._limit and not (self._gone or self._aborted):
                    self._cond.wait()
                if self._gone or self._aborted:
                    raise BrokenPipeError("the session's output pipe was closed")
                take = min(len(data) - pos, self._limit - self._held)
                self._chunks.append(data[pos : pos + take] if pos or take < len(data) else data)
                self._held += take
                pos += take
                self._cond.notify_all()

    def end(self) -> None:
        """No more output: the reader gets what is held, then end of file."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def abort(self) -> None:
        """Wake a ``put`` waiting for room; what is held stays readable."""
        with self._cond:
            self._aborted = True
            self._cond.notify_all()


class InputPipe(io.RawIOBase):
    """``session.stdin``: each ``write`` is sent at once, whole, from any thread.

    A write blocks while the container does not read (the connection is full), as a pipe's does.
    ``close()`` is the end of input. Writing after the session has ended raises
    ``BrokenPipeError``, as writing to a finished process's stdin does.
    """

    def __init__(self, send: Callable[[bytes], None], end: Callable[[], None]) -> None:
        super().__init__()
        self._send = send
        self._end = end
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError("write to closed file")
        payload = bytes(data)
        with self._lock:
            self._send(payload)
        return len(payload)

    def close(self) -> None:
        if self.closed:
            return
        try:
            with self._lock:
                self._end()
        finally:
            super().close()


def reader(pipe: OutputPipe, text: bool, encoding: Optional[str], errors: Optional[str]) -> Any:
    buffered = io.BufferedReader(pipe)
    if not text:
        return buffered
    return io.TextIOWrapper(buffered, encoding=encoding or "utf-8", errors=errors)


def writer(pipe: InputPipe, text: bool, encoding: Optional[str], errors: Optional[str]) -> Any:
    if not text:
        return pipe
    return io.TextIOWrapper(
        pipe,  # type: ignore[arg-type]
        encoding=encoding or "utf-8",
        errors=errors,
        write_through=True,
    )
