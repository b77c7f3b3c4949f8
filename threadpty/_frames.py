"""Incremental parser of Docker's multiplexed stream (the non-TTY attach and exec protocol).

Each frame is an 8-byte header ``[stream id, 0, 0, 0, length (big-endian uint32)]`` followed by
``length`` bytes. Chunks from the socket split frames anywhere, headers included, so the parser
keeps only the part of a header it has seen and how much payload is still owed; payloads are passed
on in slices of the chunk, never copied into a whole frame first.
"""

from __future__ import annotations

import struct
from typing import Iterator, List, Optional, Tuple

from .errors import EngineError, ProtocolError

HEADER_SIZE = 8
STDIN, STDOUT, STDERR, SYSTEM_ERROR = 0, 1, 2, 3
_HEADER = struct.Struct(">BxxxL")


class FrameParser:
    """Feed it chunks; it yields ``(stream, payload)`` pieces in order.

    Stream 0 is reported as stdout (as Docker's stdcopy does); stream 3 carries an engine error,
    raised as :class:`EngineError`; any other id is a :class:`ProtocolError`.
    """

    __slots__ = ("_header", "_stream", "_remaining", "_system_error", "error")

    def __init__(self) -> None:
        self._header = bytearray()
        self._stream = STDOUT
        self._remaining = 0
        self._system_error = bytearray()
        # The error that ended the stream (the engine's, or a malformed frame), once ``runs``
        # has met it.
        self.error: Optional[Exception] = None

    def runs(self, chunk: memoryview) -> List[Tuple[int, List[memoryview]]]:
        """The payload of ``chunk`` as ``(stream, pieces)`` runs: consecutive frames of one stream
        gathered in order, so that a sink can take them in one write (output often comes as
        many small frames, and each write is a system call).

        The same parse as :meth:`feed`, in one loop with no generator step per frame. An engine
        error or a malformed header ends the parse: the runs before it are returned and the
        error is left in ``error`` (what came before it must still be written, so it is the
        caller's to raise afterwards, as :meth:`feed` raises after yielding what came before).
        """
        out: List[Tuple[int, List[memoryview]]] = []
        if self.error is not None:
            return out
        last: List[memoryview] = []
        last_stream = -1
        unpack_from = _HEADER.unpack_from
        pos, end = 0, len(chunk)
        while pos < end:
            remaining = self._remaining
            if remaining:
                take = remaining if remaining < end - pos else end - pos
                self._remaining = remaining - take
                stream = self._stream
                piece = chunk[pos : pos + take]
                pos += take
                if stream == last_stream:
                    last.append(piece)
                elif stream != SYSTEM_ERROR:
                    last = [piece]
                    last_stream = stream
                    out.append((stream, last))
                else:
                    self._system_error += piece
                    if not self._remaining:
                        self.error = self._system_error_of()
                        return out
                continue
            if self._header or end - pos < HEADER_SIZE:
                need = HEADER_SIZE - len(self._header)
                self._header += chunk[pos : pos + need]
                pos += min(need, end - pos)
                if len(self._header) < HEADER_SIZE:
                    return out
                stream, length = _HEADER.unpack(self._header)
                self._header.clear()
            else:
                stream, length = unpack_from(chunk, pos)
                pos += HEADER_SIZE
                if length <= end - pos and (stream == STDOUT or stream == STDERR):
                    # The common case, a whole frame in the chunk: no state to keep.
                    if length:
                        if stream != last_stream:
                            last = []
                            last_stream = stream
                            out.append((stream, last))
                        last.append(chunk[pos : pos + length])
                        pos += length
                    continue
            if stream == STDIN:
                stream = STDOUT
            elif stream != STDOUT and stream != STDERR and stream != SYSTEM_ERROR:
                self.error = ProtocolError(f"unknown stream id {stream} in a frame header")
                return out
            self._stream, self._remaining = stream, length
            if stream == SYSTEM_ERROR and not length:
                self.error = self._system_error_of()
                return out
        return out

    def feed(self, chunk: memoryview) -> Iterator[Tuple[int, memoryview]]:
        pos, end = 0, len(chunk)
        while pos < end:
            if self._remaining:
                take = min(self._remaining, end - pos)
                self._remaining -= take
                piece = chunk[pos : pos + take]
                pos += take
                if self._stream == SYSTEM_ERROR:
                    self._system_error += piece
                    if not self._remaining:
                        self._raise_system_error()
                else:
                    yield self._stream, piece
                continue
            if self._header or end - pos < HEADER_SIZE:
                need = HEADER_SIZE - len(self._header)
                self._header += chunk[pos : pos + need]
                pos += min(need, end - pos)
                if len(self._header) < HEADER_SIZE:
                    return
                stream, length = _HEADER.unpack(self._header)
                self._header.clear()
            else:
                stream, length = _HEADER.unpack_from(chunk, pos)
                pos += HEADER_SIZE
            if stream == STDIN:
                stream = STDOUT
            elif stream not in (STDOUT, STDERR, SYSTEM_ERROR):
                raise ProtocolError(f"unknown stream id {stream} in a frame header")
            self._stream, self._remaining = stream, length
            if stream == SYSTEM_ERROR and not length:
                self._raise_system_error()

    def close(self) -> None:
        """Call at end of stream: a frame cut short is a protocol error."""
        if self.error is not None:
            raise self.error
        if self._header:
            raise ProtocolError(
                f"stream ended inside a frame header ({len(self._header)} of 8 bytes)"
            )
        if self._remaining:
            raise ProtocolError(f"stream ended {self._remaining} bytes short of a frame's end")

    def _raise_system_error(self) -> None:
        raise self._system_error_of()

    def _system_error_of(self) -> EngineError:
        message = bytes(self._system_error).decode("utf-8", "replace").strip()
        self._system_error.clear()
        return EngineError(f"the engine reported an error in the stream: {message or '(empty)'}")
