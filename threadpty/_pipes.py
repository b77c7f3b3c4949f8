"""``PIPE`` streams: file objects a program reads a session's output from and writes its input to.

Output goes through a bounded buffer: when the program reads slower than the container writes, the
session's output thread waits in ``put``, stops reading the connection, and the engine's own flow
control holds the container back. Memory stays at ``limit`` bytes per pipe whatever the pace.
"""

from __future__ import annotations

import io
import queue
import threading
from typing import Any, Callable, Dict, List, Optional, Protocol, Tuple

DEFAULT_LIMIT = 1024 * 1024


class _Sentinel:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return f"threadpty.{self._name}"


PIPE: Any = _Sentinel("PIPE")
STDOUT: Any = _Sentinel("STDOUT")
_END: Any = _Sentinel("end of output")
_LEASE: Any = _Sentinel("lease")  # the reader may read the connection itself (see _pump)


class ConnectionLender(Protocol):
    """What a pipe's reader sees of the session's connection reader (``_pump.ConnectionReader``).

    The reader of an empty pipe may be lent the connection and read it itself (see ``_pump``);
    this is the whole of what the pipe needs of the lender.
    """

    owner: Optional["OutputPipe"]  # the pipe holding the lease; None: the output thread
    leasable: bool  # whether the lease is ever lent (never with a callable sink)

    def read_for(self, pipe: "OutputPipe") -> Optional[bytes]: ...

    def release(self, pipe: "OutputPipe") -> None: ...


class OutputPipe(io.BufferedIOBase):
    """``session.stdout``/``session.stderr`` in binary mode: a buffered reader of the output.

    Reads block until output arrives and return ``b""`` at its end. ``read1`` hands over the
    chunks as the session put them, uncopied when one fits, joined when several are waiting.
    Closing it tells the session that nobody reads any more: what it held is let go, and output
    that arrives afterwards is still read from the connection, then dropped, so the container is
    never held back by a reader who has left and the command runs on to its own end (the engine
    has no SIGPIPE to send it).

    A chunk that crosses from the output thread to the reader goes through a ``SimpleQueue``
    (one C-level lock, no Python-level condition per chunk), and the byte count that bounds it is
    two counters each written by one side only, so neither side takes a lock unless the writer
    has to wait for room. A reader that keeps up is lent the connection instead (``_pump``) and
    its ``read1`` returns what it read itself: no hand-over, no counting, no copy but the read.
    """

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        super().__init__()
        if limit < 1:
            raise ValueError(f"bufsize must be positive, got {limit}")
        self._limit = limit
        self._queue: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self._rest = b""  # taken from the queue, not yet read
        self._ended = False
        self._put = 0  # bytes queued, written by the session's side only
        self._taken = 0  # bytes read, written by the reader's side only
        self._gone = False  # the reader closed it
        self._aborted = False
        self._writer_waits = False
        self._room = threading.Condition(threading.Lock())
        # Readers in several threads take turns. Held from before a reader looks at the lease
        # (see _pump) until it has what it read: the output thread never takes it back mid-read.
        self.reading = threading.Lock()
        self.lender: Optional[ConnectionLender] = None  # set once the session's output runs
        self.wants_lease = False  # a reader waits for output (set by the reader only)

    def readable(self) -> bool:
        return True

    def _fill(self) -> bytes:
        """What is ready to read, waiting for it; ``b""`` at the end. Under ``reading``."""
        if self._gone:
            raise ValueError("read of closed file")
        while not self._rest and not self._ended:
            lender = self.lender
            if lender is not None:
                if lender.owner is self:
                    if self._queue.empty():
                        data = lender.read_for(self)
                        if data:
                            self.keep(data)
                        continue
                elif lender.leasable:
                    self.wants_lease = True
            data = self._queue.get()
            if data is _LEASE:
                continue
            if data is _END:
                if self._gone:
                    raise ValueError("read of closed file")
                self._ended = True
            else:
                self._rest = data
        return self._rest

    def _consume(self, n: int) -> None:
        self._rest = self._rest[n:] if n < len(self._rest) else b""
        self._taken += n
        # The writer sets the flag before it looks at the counts, so it cannot miss this.
        if self._writer_waits:
            with self._room:
                self._room.notify()

    def read1(self, size: Optional[int] = -1) -> bytes:
        if size is None or size < 0:
            size = self._limit
        elif size == 0:
            # As a BufferedReader's: nothing asked, nothing waited for.
            if self._gone:
                raise ValueError("read of closed file")
            return b""
        with self.reading:
            lender = self.lender
            if (
                lender is not None
                and lender.owner is self
                and not self._rest
                and self._queue.empty()
            ):
                # Holding the lease with nothing queued: the chunk read for this reader is its
                # answer as it is, bypassing the counters that bound only what is queued.
                data = lender.read_for(self)
                if data:
                    if len(data) <= size:
                        return data
                    self.keep(data)  # too big: the rest is the next read's
            data = self._fill()
            queue_ = self._queue
            if len(data) < size and not queue_.empty():
                parts = [data]
                n = len(data)
                while n < size and not queue_.empty():
                    more = queue_.get()
                    if more is _END:
                        self._ended = True
                        break
                    if more is _LEASE:
                        continue
                    parts.append(more)
                    n += len(more)
                data = self._rest = b"".join(parts)
            if len(data) > size:
                data = data[:size]
            self._consume(len(data))
            return data

    def read(self, size: Optional[int] = -1) -> bytes:
        return self._gather(size, line=False)

    def readline(self, size: Optional[int] = -1) -> bytes:
        return self._gather(size, line=True)

    def _gather(self, size: Optional[int], line: bool) -> bytes:
        """Up to ``size`` bytes (all, if negative or None) or, with ``line``, to a newline."""
        want = -1 if size is None else size
        parts = []
        n = 0
        with self.reading:
            while want < 0 or n < want:
                data = self._fill()
                if not data:
                    break
                limit = len(data) if want < 0 else min(len(data), want - n)
                newline = data.find(b"\n", 0, limit) if line else -1
                take = newline + 1 if newline >= 0 else limit
                parts.append(data if take == len(data) else data[:take])
                n += take
                self._consume(take)
                if newline >= 0:
                    break
        return b"".join(parts)

    def peek(self, size: int = 0) -> bytes:
        with self.reading:
            return self._fill()

    def readinto(self, buf: Any) -> int:
        return self._copy_into(buf, self.read)

    def readinto1(self, buf: Any) -> int:
        return self._copy_into(buf, self.read1)

    @staticmethod
    def _copy_into(buf: Any, read: Callable[[int], bytes]) -> int:
        view = memoryview(buf).cast("B")
        data = read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if self.closed:
            return
        self._gone = True
        self.wants_lease = False
        with self._room:
            self._room.notify_all()
        # Let go of what is held, and wake a reader waiting in another thread.
        self._rest = b""
        while not self._queue.empty():
            self._queue.get()
        self._queue.put(_END)
        if self.lender is not None:
            self.lender.release(self)
        super().close()

    # The session's side -----------------------------------------------------------------------

    def put(self, data: bytes) -> None:
        """Hold ``data`` for the reader, waiting while the pipe is full.

        Drops ``data`` once the reader has closed the pipe; raises ``BrokenPipeError`` once the
        session aborts it.
        """
        pos = 0
        while pos < len(data):
            if self._put - self._taken >= self._limit or self._gone or self._aborted:
                with self._room:
                    while True:
                        self._writer_waits = True
                        if self._gone or self._aborted or self._put - self._taken < self._limit:
                            break
                        self._room.wait()
                    self._writer_waits = False
                if self._aborted:
                    raise BrokenPipeError("the session is ending")
                if self._gone:
                    return  # nobody reads any more: dropped, never held
            take = min(len(data) - pos, self._limit - (self._put - self._taken))
            self._put += take
            self._queue.put(data[pos : pos + take] if pos or take < len(data) else data)
            pos += take

    def keep(self, data: bytes) -> None:
        """What the reader read from the connection itself, holding the lease: it reads it next."""
        self._put += len(data)
        self._rest = data

    def grant(self) -> None:
        """The reader may read the connection itself, once it has read what is queued."""
        self._queue.put(_LEASE)

    def end(self) -> None:
        """No more output: the reader gets what is held, then end of file."""
        self._queue.put(_END)

    def abort(self) -> None:
        """Wake a ``put`` waiting for room; what is held stays readable."""
        self._aborted = True
        with self._room:
            self._room.notify_all()


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
        if type(data) is bytes:
            payload = data
        else:
            # A bytes-like object only, as a file's write takes: bytes(5) would be five NULs and
            # bytes([1, 2]) two bytes, sent where the caller meant something else.
            try:
                view = memoryview(data)
            except TypeError:
                raise TypeError(
                    f"a bytes-like object is required, not '{type(data).__name__}'"
                ) from None
            payload = view.tobytes()
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
    if not text:
        return pipe
    return io.TextIOWrapper(pipe, encoding=encoding or "utf-8", errors=errors)


def writer(pipe: InputPipe, text: bool, encoding: Optional[str], errors: Optional[str]) -> Any:
    if not text:
        return pipe
    return io.TextIOWrapper(
        pipe,  # type: ignore[arg-type]
        encoding=encoding or "utf-8",
        errors=errors,
        write_through=True,
    )


class Exchange:
    """``communicate``'s threads, one per PIPE: each reads a PIPE to its end, or writes ``input``
    to stdin and closes it. Started at once; what they read or raise is kept for the caller."""

    def __init__(self, stdin: Any, stdout: Any, stderr: Any, input: Any) -> None:
        self._results: Dict[str, Any] = {}
        self._errors: List[BaseException] = []
        jobs = [
            (name, self._drain(name, stream))
            for name, stream in (("stdout", stdout), ("stderr", stderr))
            if stream is not None
        ]
        if stdin is not None:
            jobs.append(("stdin", self._guarded(lambda: _feed(stdin, input))))
        self.threads = [
            threading.Thread(target=job, name=f"threadpty-communicate-{name}", daemon=True)
            for name, job in jobs
        ]
        for thread in self.threads:
            thread.start()

    def _guarded(self, work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - raised in the caller, by result()
                self._errors.append(exc)

        return run

    def _drain(self, name: str, stream: Any) -> Callable[[], None]:
        return self._guarded(lambda: self._results.update({name: stream.read()}))

    def join(self, left: Callable[[], Optional[float]] = lambda: None) -> bool:
        """Wait for every thread, each for at most ``left()`` seconds; whether all have ended."""
        for thread in self.threads:
            thread.join(left())
        return not any(thread.is_alive() for thread in self.threads)

    def result(self) -> Tuple[Any, Any]:
        """(stdout, stderr) as read, None for a stream that is not a PIPE; raises what a thread
        raised."""
        if self._errors:
            raise self._errors[0]
        return self._results.get("stdout"), self._results.get("stderr")


def _feed(stdin: Any, input: Any) -> None:
    try:
        if input:
            stdin.write(input)
        stdin.close()
    except BrokenPipeError:
        pass  # it ended without reading everything, as a process may
