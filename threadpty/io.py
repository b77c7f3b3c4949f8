"""dockerpty's stream primitives (``Stream``, ``Demuxer``, ``Pump``, ``set_blocking``, ``select``).

They keep dockerpty's interface for code that used them directly. threadpty's own sessions do not
use them: its threads block, so nothing here switches a descriptor to non-blocking unless the
caller asks through ``set_blocking``.
"""

from __future__ import annotations

import errno
import os
import select as _select
from collections import deque
from typing import Any, Deque, List, Optional, Sequence, Tuple

from . import _platform
from ._connection import Connection
from ._frames import FrameParser
from ._streams import fileno_of
from .errors import ThreadptyError


def set_blocking(fd: Any, blocking: bool = True) -> Optional[bool]:
    """Set ``fd`` (an int or a file object) blocking or not; return whether it was blocking.

    Returns None where the platform cannot tell (no fcntl and no ``os.get_blocking``).
    """
    num = fd if isinstance(fd, int) else fileno_of(fd)
    if num is None:
        return None
    if _platform.have_fcntl():
        import fcntl

        old = fcntl.fcntl(num, fcntl.F_GETFL)
        new = old & ~os.O_NONBLOCK if blocking else old | os.O_NONBLOCK
        if new != old:
            fcntl.fcntl(num, fcntl.F_SETFL, new)
        return not bool(old & os.O_NONBLOCK)
    getter = getattr(os, "get_blocking", None)
    setter = getattr(os, "set_blocking", None)
    if getter is None or setter is None:
        return None
    try:
        was = bool(getter(num))
        setter(num, blocking)
        return was
    except OSError:
        return None


def select(
    read_streams: Sequence[Any], write_streams: Sequence[Any], timeout: float = 0
) -> Tuple[List[Any], List[Any]]:
    """``select.select`` over objects with ``fileno``; an interrupted wait returns nothing ready."""
    try:
        ready = _select.select(read_streams, write_streams, [], timeout)
    except InterruptedError:
        return [], []
    return list(ready[0]), list(ready[1])


class Stream:
    """Reads and writes one file object, socket or hijacked connection, in bytes."""

    ERRNO_RECOVERABLE = [errno.EINTR, errno.EDEADLK, errno.EWOULDBLOCK]

    def __init__(self, fd: Any) -> None:
        self.fd = fd
        self.buffer = b""
        self.close_requested = False
        self.closed = False

    def fileno(self) -> int:
        """The descriptor under the stream (the socket's, for a connection)."""
        if isinstance(self.fd, Connection):
            return self.fd.sock.fileno()
        return self.fd.fileno()

    def set_blocking(self, value: bool) -> Optional[bool]:
        """Set the stream's blocking mode, as dockerpty did; threadpty's sessions never do."""
        target = self.fd.sock if isinstance(self.fd, Connection) else self.fd
        if hasattr(target, "setblocking"):
            target.setblocking(value)
            return True
        return set_blocking(target, value)

    def read(self, n: int = 4096) -> bytes:
        """Up to ``n`` bytes as they come (blocking unless made non-blocking); ``b""`` at the
        end. Retries the interruptions dockerpty retried; raises any other ``OSError``."""
        while True:
            try:
                fd = self.fd
                if isinstance(fd, Connection):
                    buf = bytearray(n)
                    got = fd.readinto(memoryview(buf))
                    return bytes(buf[:got])
                if hasattr(fd, "recv"):
                    return bytes(fd.recv(n))
                num = fileno_of(fd)
                if num is not None:
                    return os.read(num, n)
                reader = getattr(fd, "read1", None) or fd.read
                data = reader(n)
                return data.encode("utf-8") if isinstance(data, str) else bytes(data or b"")
            except OSError as exc:
                if exc.errno not in Stream.ERRNO_RECOVERABLE:
                    raise

    def write(self, data: bytes) -> Optional[int]:
        """Buffer ``data`` and write it out (blocking); its length, or None for nothing."""
        if not data:
            return None
        self.buffer += data
        self.do_write()
        return len(data)

    def do_write(self) -> int:
        """Write out everything buffered (blocking); return how many bytes went."""
        fd, data, self.buffer = self.fd, self.buffer, b""
        if not data:
            return 0
        if isinstance(fd, Connection) or hasattr(fd, "sendall"):
            fd.sendall(data)
        else:
            num = fileno_of(fd)
            if num is not None:
                view = memoryview(data)
                while view:
                    view = view[os.write(num, view) :]
            else:
                fd.write(data)
                if hasattr(fd, "flush"):
                    fd.flush()
        if self.close_requested:
            self._close()
        return len(data)

    def needs_write(self) -> bool:
        """Whether bytes wait in the buffer."""
        return len(self.buffer) > 0

    def close(self) -> None:
        """Close once the buffer is written out."""
        self.close_requested = True
        if not self.needs_write():
            self._close()

    def _close(self) -> None:
        if self.closed:
            return
        self.closed = True
        # A connection is half-closed, so the container sees end of input and output goes on.
        if isinstance(self.fd, Connection):
            self.fd.close_write()
        elif hasattr(self.fd, "close") and self.fd not in _std_streams():
            self.fd.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.fd!r})"


def _std_streams() -> Tuple[Any, ...]:
    import sys

    return tuple(
        s
        for s in (sys.stdin, sys.stdout, sys.stderr, sys.__stdin__, sys.__stdout__, sys.__stderr__)
        if s is not None
    ) + tuple(
        getattr(s, "buffer", None) for s in (sys.stdin, sys.stdout, sys.stderr) if s is not None
    )


class Demuxer:
    """Reads Docker's multiplexed frames from ``stream`` and returns their payloads.

    ``read`` gives payload bytes of every stream, in order, as dockerpty did; ``read_frame`` also
    says which stream (1 stdout, 2 stderr) they belong to.
    """

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self._parser = FrameParser()
        self._ready: Deque[Tuple[int, bytes]] = deque()
        self._eof = False
        self._error: Optional[ThreadptyError] = None

    def fileno(self) -> int:
        """The descriptor of the stream underneath."""
        return self.stream.fileno()

    def set_blocking(self, value: bool) -> Optional[bool]:
        """The stream underneath's :meth:`Stream.set_blocking`."""
        return self.stream.set_blocking(value)

    def read_frame(self, n: int = 4096) -> Optional[Tuple[int, bytes]]:
        """The next ``(stream id, payload)`` of at most ``n`` bytes; None at end of stream."""
        while not self._ready and not self._eof:
            data = self.stream.read(max(n, 8))
            if not data:
                self._eof = True
                self._parser.close()
                break
            try:
                for sid, piece in self._parser.feed(memoryview(data)):
                    self._ready.append((sid, bytes(piece)))
            except ThreadptyError as exc:
                # What came before the bad frame is handed out first; the error after it.
                self._error, self._eof = exc, True
        if not self._ready:
            error, self._error = self._error, None
            if error is not None:
                raise error
            return None
        sid, payload = self._ready.popleft()
        if len(payload) > n:
            self._ready.appendleft((sid, payload[n:]))
            payload = payload[:n]
        return sid, payload

    def read(self, n: int = 4096) -> bytes:
        """The next frame's payload (at most ``n`` bytes), whatever its stream; ``b""`` at the
        end. Raises :class:`~threadpty.ProtocolError` past bytes that break the framing."""
        frame = self.read_frame(n)
        return frame[1] if frame is not None else b""

    def write(self, data: bytes) -> Optional[int]:
        """Write to the stream underneath (input is not framed)."""
        return self.stream.write(data)

    def needs_write(self) -> bool:
        """Whether the stream underneath has bytes buffered."""
        return self.stream.needs_write()

    def do_write(self) -> int:
        """Write out the stream underneath's buffer."""
        return self.stream.do_write()

    def close(self) -> None:
        """Close the stream underneath."""
        self.stream.close()

    def __repr__(self) -> str:
        return f"Demuxer({self.stream!r})"


class Pump:
    """Moves data from one stream to another, one ``flush`` at a time."""

    def __init__(
        self,
        from_stream: Any,
        to_stream: Any,
        wait_for_output: bool = True,
        propagate_close: bool = True,
    ) -> None:
        self.from_stream = from_stream
        self.to_stream = to_stream
        self.eof = False
        self.wait_for_output = wait_for_output
        self.propagate_close = propagate_close

    def fileno(self) -> int:
        """The descriptor of the stream it reads from."""
        return self.from_stream.fileno()

    def set_blocking(self, value: bool) -> Optional[bool]:
        """The blocking mode of the stream it reads from."""
        return self.from_stream.set_blocking(value)

    def flush(self, n: int = 4096) -> Optional[bytes]:
        """Move up to ``n`` bytes; at end of input, close the target if ``propagate_close``."""
        read = self.from_stream.read(n)
        if not read:
            self.eof = True
            if self.propagate_close:
                self.to_stream.close()
            return None
        self.to_stream.write(read)
        return read

    def is_done(self) -> bool:
        """Done when the input ended (and, if ``wait_for_output``, all output was written)."""
        if not self.wait_for_output:
            return self.eof
        return self.eof and not self.to_stream.needs_write()

    def __repr__(self) -> str:
        return f"Pump(from={self.from_stream!r}, to={self.to_stream!r})"
