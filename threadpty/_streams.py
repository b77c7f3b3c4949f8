"""The caller's streams: where input comes from and where output goes.

Input may be a file object with a descriptor (the terminal, a pipe, a file), a binary or text
file-like without one (``io.BytesIO``, ``io.StringIO``), or nothing. Output may be a binary or a
text object. Nothing here ever closes or changes the mode of the caller's streams; it only
flushes them.
"""

from __future__ import annotations

import codecs
import errno
import functools
import gc
import io
import os
import select
import stat
import sys
from typing import Any, Callable, List, Optional, Set

from . import _console, _platform
from ._pipes import OutputPipe

CHUNK = 64 * 1024
# A regular file is read in larger pieces: it never blocks, so there is no wait to wake from, and
# each piece costs a pass through the input thread and a send; 64 KiB pieces made input from a
# file slower than a plain 1 MiB read-and-send loop (`make bench`, bench/RESULTS.md: input).
FILE_CHUNK = 1024 * 1024


def fileno_of(obj: Any) -> Optional[int]:
    """The descriptor behind ``obj``, or None (``BytesIO``, closed or detached streams)."""
    try:
        fd = obj.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    return fd if isinstance(fd, int) and fd >= 0 else None


def isatty(obj: Any) -> bool:
    fd = fileno_of(obj)
    return fd is not None and os.isatty(fd)


class Source:
    """Reads the caller's input in large chunks; ``stop()`` wakes a reader waiting for a key.

    With a descriptor, the reader waits on it and on a wake-up pipe together, so the thread never
    stays blocked in a read of the terminal after its session (it would take the caller's next
    keystroke). Windows has no ``select`` for consoles: there the reader waits on the console
    handle in 100 ms slices and checks for the stop in between; a Windows pipe or file is read
    directly, and so is a regular file anywhere (it never blocks), in 1 MiB pieces. Without a
    descriptor the object is read directly: in-memory objects never block.
    """

    def __init__(self, obj: Any) -> None:
        self._obj = obj
        self._text = isinstance(obj, io.TextIOBase)
        fd = fileno_of(obj)
        self._fd = fd
        self._console = fd is not None and _platform.IS_WINDOWS and _console.is_console(fd)
        self._regular = fd is not None and _is_regular_file(fd)
        waitable = fd is not None and not _platform.IS_WINDOWS and not self._regular
        self._wake_r, self._wake_w = os.pipe() if waitable else (-1, -1)
        self._size = FILE_CHUNK if self._regular else CHUNK
        self._stopped = False

    @property
    def fd(self) -> Optional[int]:
        return self._fd

    def read(self) -> bytes:
        """The next chunk; ``b""`` at end of input or once stopped."""
        if self._stopped:
            return b""
        if self._fd is None:
            return self._read_object()
        while not self._stopped:
            if self._wake_r < 0:
                if self._console and not _console.wait_input(self._fd, 100):
                    continue
                return self._read_fd()
            try:
                ready, _, _ = select.select([self._fd, self._wake_r], [], [])
            except InterruptedError:
                continue
            if self._wake_r in ready or self._stopped:
                return b""
            try:
                return self._read_fd()
            except BlockingIOError:
                continue  # someone else made the descriptor non-blocking; wait again
        return b""

    def _read_fd(self) -> bytes:
        assert self._fd is not None
        try:
            return os.read(self._fd, self._size)
        except OSError as exc:
            # EIO: the terminal hung up (CI jobs, closed windows). That is end of input.
            if exc.errno in (errno.EIO, errno.EBADF, errno.ENXIO):
                return b""
            raise

    def _read_object(self) -> bytes:
        obj = self._obj
        if obj is None or getattr(obj, "closed", False):
            return b""  # no stdin at all (started with fd 0 closed, or pythonw): end of input
        reader = getattr(obj, "read1", None) if not self._text else None
        data = reader(CHUNK) if reader is not None else obj.read(CHUNK)
        if data is None:
            return b""
        if isinstance(data, str):
            return data.encode("utf-8")
        return bytes(data)

    def stop(self) -> None:
        """Wake the reader and make every later ``read`` return end of input."""
        self._stopped = True
        if self._wake_w >= 0:
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass

    def close(self) -> None:
        """Release the wake-up pipe; call once the reading thread has ended."""
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1


# The most pieces handed to one writev (POSIX guarantees at least 16; Linux and macOS take 1024).
_IOV_MAX = 1024

# Sinks that copy what they are given before write() returns; any other object may keep it, and
# gets bytes of its own instead of a view of the output thread's reused buffer.
_COPYING = (io.FileIO, io.BufferedWriter, io.BufferedRandom, io.BytesIO)


def make_sink(obj: Any) -> "Sink":
    """The sink for ``obj``: None discards (``sys.stdout`` is None under pythonw), a callable is
    called with each chunk, anything else is written to as a file object."""
    if obj is None:
        return Sink(None)
    if callable(obj) and not hasattr(obj, "write"):
        return CallSink(obj)
    if not hasattr(obj, "write"):
        raise TypeError(
            "expected a file object with write(), a callable, PIPE or None, "
            f"got {type(obj).__name__}"
        )
    return Sink(obj)


class Sink:
    """Writes output to the caller's object at once, whole, in order, and flushes it.

    A text object gets text, decoded incrementally, so a character split across two chunks is
    never broken, and its own layer does what it was opened to do (another encoding, newline
    translation). Only where that layer would write the very bytes that came (``sys.stdout``;
    see ``_bytes_pass_unchanged``) are they written to its binary ``.buffer`` instead, after its
    own pending text is flushed.
    """

    def __init__(self, obj: Any) -> None:
        self.obj = obj
        self._decoder: Optional[codecs.IncrementalDecoder] = None
        self._flush = getattr(obj, "flush", None)
        self._target = obj
        if isinstance(obj, io.TextIOBase) or (hasattr(obj, "encoding") and hasattr(obj, "buffer")):
            buffer = getattr(obj, "buffer", None)
            if buffer is not None and _bytes_pass_unchanged(obj):
                self._target = buffer
                self._flush = getattr(buffer, "flush", None)
            else:
                self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._raw_target = isinstance(self._target, io.RawIOBase)
        if self._raw_target:
            self._flush = None  # nothing is buffered on the way to a raw file
        self._copy = self._decoder is None and type(self._target) not in _COPYING
        # A raw file (an unbuffered fd, as a program that forwards output uses) takes the pieces
        # of several frames in one writev: one system call, and no join copying them first.
        self._writev = (
            type(self._target) is io.FileIO and hasattr(os, "writev") and self._decoder is None
        )

    def write_many(self, pieces: List[memoryview]) -> None:
        """Write ``pieces`` (consecutive payload of one stream) as one; same as writing them in
        turn, in fewer calls."""
        target = self._target
        if not self._writev or target.closed or len(pieces) > _IOV_MAX:
            # The join is one copy; each write would be a call, and a flush, of its own.
            self.write(b"".join(pieces))
            return
        try:
            done = os.writev(target.fileno(), pieces)
        except BlockingIOError:
            done = 0  # a non-blocking descriptor: the rest goes as write() takes it
        for piece in pieces:
            size = len(piece)
            if done >= size:
                done -= size
                continue
            self.write(piece[done:])
            done = 0

    def write(self, data: memoryview | bytes) -> None:
        target = self._target
        if target is None:
            return
        if self._decoder is not None:
            text = self._decoder.decode(data)
            if text:
                target.write(text)
        elif self._raw_target:
            view = memoryview(data)
            while view:
                n = target.write(bytes(view) if self._copy else view)
                view = view[n or 0 :]
        else:
            target.write(bytes(data) if self._copy else data)
        if self._flush is not None:
            self._flush()

    def finish(self) -> None:
        if self._decoder is not None:
            tail = self._decoder.decode(b"", final=True)
            if tail:
                self._target.write(tail)
        if self._flush is not None:
            self._flush()

    def abort(self) -> None:
        """Wake a writer waiting for room (only our own pipes ever wait inside ``write``)."""


class CallSink(Sink):
    """Calls ``fn(chunk)`` with bytes of its own, on the output thread, in order."""

    def __init__(self, fn: Callable[[bytes], Any]) -> None:
        super().__init__(None)
        self._fn = fn

    def write(self, data: memoryview | bytes) -> None:
        self._fn(bytes(data))

    def write_many(self, pieces: List[memoryview]) -> None:
        self._fn(b"".join(pieces))


class PipeSink(Sink):
    def __init__(self, pipe: OutputPipe) -> None:
        super().__init__(None)
        self.pipe = pipe

    def write(self, data: memoryview | bytes) -> None:
        self.pipe.put(bytes(data))

    def write_many(self, pieces: List[memoryview]) -> None:
        self.pipe.put(b"".join(pieces))

    def finish(self) -> None:
        self.pipe.end()

    def abort(self) -> None:
        self.pipe.abort()


def _is_regular_file(fd: int) -> bool:
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        return False


def _is_utf8(encoding: Optional[str]) -> bool:
    try:
        return codecs.lookup(encoding or "utf-8").name == "utf-8"
    except LookupError:
        return False


_NEWLINES = ("", "\n", "\r", "\r\n")


def _newline_strings(wrapper: io.TextIOWrapper) -> Set[str]:
    """Those of ``_NEWLINES`` that ``wrapper`` holds: its ``newline`` argument when not None.

    The C ``TextIOWrapper`` keeps that argument only inside; the one place it shows is among the
    objects it refers to for the garbage collector. A wrapper that reads may also hold decoded
    text there, which can only add to the set.
    """
    return {r for r in gc.get_referents(wrapper) if type(r) is str and r in _NEWLINES}


@functools.cache
def _newline_shows() -> bool:
    """Whether this interpreter's ``TextIOWrapper`` shows its ``newline`` as ``_newline_strings``
    expects (if not, every text object gets text)."""
    for newline in (None, *_NEWLINES):
        probe = io.TextIOWrapper(io.BufferedWriter(io.BytesIO()), "utf-8", newline=newline)
        if _newline_strings(probe) != ({newline} if newline is not None else set()):
            return False
    return True


def _bytes_pass_unchanged(obj: Any) -> bool:
    """Whether UTF-8 output written to ``obj`` as text reaches its ``.buffer`` as the same bytes.

    Only for a plain ``io.TextIOWrapper`` (a subclass or a look-alike may do more in ``write``)
    whose encoding is UTF-8 (not ``utf-8-sig``: that one writes a BOM first) and which translates
    no newline: ``newline`` "" or "\\n", or None where ``os.linesep`` is "\\n". Python's own
    ``sys.__stdout__``/``sys.__stderr__`` with ``newline=None`` (Windows' default) get the bytes as
    they are, as a child's output reaches an inherited descriptor: a TTY's "\\r\\n" must not
    become "\\r\\r\\n".
    """
    if type(obj) is not io.TextIOWrapper or not _is_utf8(obj.encoding) or not _newline_shows():
        return False
    try:
        obj.flush()  # pending text is written first (and no longer among what it refers to)
        readable = obj.readable()
    except (OSError, ValueError):
        return False
    found = _newline_strings(obj)
    if found & {"\r", "\r\n"}:
        return False
    if os.linesep == "\n" or any(obj is std for std in (sys.__stdout__, sys.__stderr__)):
        return True
    # None here translates "\n"; "\n" among decoded text could be taken for newline="\n".
    return bool(found) and not readable
