"""Who reads the connection: the output thread, or the reader of a PIPE waiting for output.

Every chunk the output thread hands to a PIPE's reader costs a thread hand-over (a futex wake and
the GIL moving between threads, ~11 µs in CPython), which with a TTY's ~4 KiB chunks doubled the
CPU of reading output through a PIPE. So the connection is read by whoever holds a lease on it:

- the output thread holds it by default, and fills the pipes up to their limit when nobody reads;
- a reader that finds its pipe empty asks for it; the output thread, after the chunk in hand,
  grants it (a marker in the pipe, behind the data already there) and steps aside;
- the reader then reads the connection itself whenever its pipe is empty, and what it reads for
  itself never crosses a thread; pieces for other sinks go to them as the output thread's would;
- the output thread takes the lease back when the reader has not read for ``IDLE`` seconds (so
  output unread still fills the pipe, and ``join`` still ends), when the session ends, or at once
  when the reader meets the end of the connection or an error, which it leaves to the output
  thread: the session's ending stays the output thread's alone;
- a pipe closed by its own reader gives the lease back at once; closed from another thread while
  its reader waits in a read of the connection, the lease goes back once that read has returned
  (the reader then finds the pipe closed) and ``IDLE`` has passed. Either way the output thread
  then reads on and the closed pipe drops what is meant for it.

Only one thread reads the connection and feeds the frame parser at a time, so bytes keep their
order. A reader holds its pipe's ``reading`` lock from before it looks at the lease until it has
what it read; the output thread takes the lease back only when it can take that lock. A callable
sink must be called on the output thread: with one, no lease is granted.

What the reader reads for itself is its ``read1``'s answer as it came (``OutputPipe.read1``); with a
TTY, the ``bytes`` object the socket gave (``Connection.read``). Over a file object, a PIPE's reader
then pays for that object and two calls per chunk: no hand-over, no copy, no counting.
"""

from __future__ import annotations

import threading
from typing import Any, List, Optional, Sequence

from ._frames import STDERR, FrameParser
from ._pipes import OutputPipe
from ._streams import CHUNK, CallSink, PipeSink, Sink

# How long a reader holding the lease may stay away before the output thread takes it back.
IDLE = 0.02
# Frames read with no reader to lend the connection to go in reads of up to this much, once a read
# has filled the first buffer (a flood: a socket then holds more than that). Each read
# costs a system call and a pass through the parser loop; an idle session keeps its 64 KiB.
BIG_CHUNK = 256 * 1024


class ConnectionReader:
    """Reads the connection and passes what it reads on to the sinks, lending it to a PIPE's
    reader (the session's output thread runs :meth:`run`)."""

    def __init__(self, conn: Any, tty: bool, out: Sink, err: Sink) -> None:
        self._conn = conn
        self.parser: Optional[FrameParser] = None if tty else FrameParser()
        self._out, self._err = out, err
        self._view = memoryview(bytearray(CHUNK))
        self._pipes: Sequence[OutputPipe] = [
            s.pipe for s in dict.fromkeys((out, err)) if isinstance(s, PipeSink)
        ]
        self.leasable = bool(self._pipes) and not any(isinstance(s, CallSink) for s in (out, err))
        # The pipe that gets every byte read (a TTY's, or no TTY with stdout and stderr both in it):
        # its reader takes what it reads as it is, with nothing to sort out for other sinks.
        whole = out if tty or out is err else None
        self._whole: Any = whole.pipe if isinstance(whole, PipeSink) else None
        self._tty_whole: Any = self._whole if tty else None
        self.owner: Optional[OutputPipe] = None  # holding the lease; None: the output thread
        self._cond = threading.Condition(threading.Lock())
        self._steps = 0  # the owner's reads, so the output thread can tell it has gone idle
        self._stopping = False
        self._eof = False
        self._error: Optional[BaseException] = None
        for pipe in self._pipes:
            pipe.lender = self

    def step(self, own: Any = None, mine: Optional[List[bytes]] = None) -> bool:
        """Read one chunk and pass it on; False at the end of the connection.

        Pieces for the pipe ``own`` are appended to ``mine`` instead of crossing to it.
        """
        view = self._view
        n = self._conn.readinto(view)
        if not n:
            return False
        out, err = self._out, self._err
        parser = self.parser
        if parser is None:
            if mine is not None and isinstance(out, PipeSink) and out.pipe is own:
                mine.append(bytes(view[:n]))
            else:
                out.write(view[:n])
            return True
        for stream, piece in parser.feed(view[:n]):
            sink = err if stream == STDERR else out
            if mine is not None and isinstance(sink, PipeSink) and sink.pipe is own:
                mine.append(bytes(piece))
            else:
                sink.write(piece)
        return True

    # The output thread's side ------------------------------------------------------------------

    def run(self) -> None:
        """Read the connection to its end (or the session's), lending it to readers on the way."""
        if self.leasable:
            while self.turn() and self.step():
                self.offer()
            return
        # Nobody to lend it to: the plain loop, nothing per chunk that it does not need.
        conn, view, out, err = self._conn, self._view, self._out, self._err
        parser = self.parser
        if parser is None:
            write = out.write
            while True:
                n = conn.readinto(view)
                if not n:
                    return
                write(view[:n])
        # Consecutive frames of one stream go to their sink in one write (in order: a run ends
        # where the stream changes); the sink writes all before the next read, so the engine's
        # flow control still holds the container back when the caller's object is slow.
        runs = parser.runs
        while True:
            n = conn.readinto(view)
            if not n:
                return
            for stream, pieces in runs(view[:n]):
                sink = err if stream == STDERR else out
                if len(pieces) == 1:
                    sink.write(pieces[0])
                else:
                    sink.write_many(pieces)
            if parser.error is not None:
                raise parser.error
            if n == len(view) < BIG_CHUNK:
                view = memoryview(bytearray(BIG_CHUNK))

    def turn(self) -> bool:
        """Wait until no reader holds the lease; False when a reader met the connection's end.

        Raises what a reader holding the lease met while reading or passing on.
        """
        if self.owner is not None:
            with self._cond:
                while self.owner is not None:
                    seen = self._steps
                    self._cond.wait(IDLE)
                    if self.owner is None:
                        break
                    # The owner's reader holds its pipe's lock from before it looks at the
                    # lease to after it has passed on what it read: free, it is not reading.
                    reading = self.owner.reading
                    if reading.acquire(blocking=False):
                        try:
                            if self._stopping or self._steps == seen:
                                self.owner = None
                        finally:
                            reading.release()
        error, self._error = self._error, None
        if error is not None:
            raise error
        return not self._eof

    def offer(self) -> None:
        """Grant the lease to a reader waiting for output, if one is."""
        if self._stopping:
            return
        for pipe in self._pipes:
            if pipe.wants_lease:
                pipe.wants_lease = False
                self.owner = pipe
                pipe.grant()
                return

    def stop(self) -> None:
        """The session is ending: the output thread takes the lease back as soon as it is free."""
        self._stopping = True
        with self._cond:
            self._cond.notify_all()

    # The reader's side -------------------------------------------------------------------------

    def read_for(self, pipe: OutputPipe) -> Optional[bytes]:
        """Read the connection for ``pipe`` until it has something; None if it has no lease.

        ``b""`` when the connection ended or failed: the output thread then ends the session.
        Called holding ``pipe.reading``, which keeps the lease from being taken back meanwhile.
        """
        if self.owner is not pipe or self._stopping:
            if self.owner is pipe:
                self._give_back()
            return None
        self._steps += 1
        if pipe is self._tty_whole:
            # A TTY's bytes, all this pipe's, in an object of their own from the socket: this
            # is the path of a TTY's every ~4 KiB chunk, so it is kept to the bare minimum.
            try:
                data = self._conn.read(CHUNK)
            except Exception as exc:  # noqa: BLE001 - raised again in the output thread
                self._error = exc
                data = b""
            if data:
                return data
            self._eof = self._error is None
            self._give_back()
            return b""
        mine: List[Any] = []
        try:
            if pipe is self._whole:
                self._frames_for_whole(mine)
            else:
                while not mine and self.step(pipe, mine):
                    pass
            if not mine:
                self._eof = True
                self._give_back()
        except Exception as exc:  # noqa: BLE001 - raised again in the output thread
            self._error = exc
            self._give_back()
        except BaseException:
            # Ctrl-C in the reader's thread is its own to handle; what was read stays.
            self._give_back()
            if mine:
                pipe.keep(b"".join(mine))
            raise
        return b"".join(mine)

    def _frames_for_whole(self, mine: List[Any]) -> None:
        """Payload slices of the next chunk that has any, into ``mine`` (left empty at the end)."""
        conn, view, feed = self._conn, self._view, self.parser.feed  # type: ignore[union-attr]
        while not mine:
            n = conn.readinto(view)
            if not n:
                return
            # The slices stay valid until the next read, after the caller has joined them.
            mine.extend(piece for _, piece in feed(view[:n]))

    def release(self, pipe: OutputPipe) -> None:
        """``pipe`` is closed: the lease goes back to the output thread."""
        # Never waits: a read of the connection under way ends by itself (or close() aborts it),
        # and a lease left to a closed pipe goes back once it has been idle.
        if self.owner is pipe and pipe.reading.acquire(blocking=False):
            try:
                if self.owner is pipe:
                    self._give_back()
            finally:
                pipe.reading.release()

    def _give_back(self) -> None:
        with self._cond:
            self.owner = None
            self._cond.notify_all()
