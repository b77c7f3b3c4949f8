"""Incremental parser of Docker's multiplexed stream (the non-TTY attach and exec protocol).

Each frame is an 8-byte header ``[stream id, 0, 0, 0, length (big-endian uint32)]`` followed by
``length`` bytes. Chunks from the socket split frames anywhere, headers included, so the parser
keeps only the part of a header it has seen and how much payload is still owed; payloads are passed
on in slices of the chunk, never copied into a whole frame first.
"""

from __future__ import annotations

import struct
from typing import Iterator, Tuple

from .errors import EngineError, ProtocolError

HEADER_SIZE = 8
STDIN, STDOUT, STDERR, SYSTEM_ERROR = 0, 1, 2, 3
_HEADER = struct.Struct(">BxxxL")


class FrameParser:
    """Feed it chunks; it yields ``(stream, payload)`` pieces in order.

    Stream 0 is reported as stdout (as Docker's stdcopy does); stream 3 carries an engine error,
    raised as :class:`EngineError`; any other id is a :class:`ProtocolError`.
    """

    __slots__ = ("_header", "_stream", "_remaining", "_system_error")

    def __init__(self) -> None:
        self._header = bytearray()
        self._stream = STDOUT
        self._remaining = 0
        self._system_error = bytearray()

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
        if self._header:
            raise ProtocolError(
                f"stream ended inside a frame header ({len(self._header)} of 8 bytes)"
            )
        if self._remaining:
            raise ProtocolError(f"stream ended {self._remaining} bytes short of a frame's end")

    def _raise_system_error(self) -> None:
        message = bytes(self._system_error).decode("utf-8", "replace").strip()
        self._system_error.clear()
        raise EngineError(f"the engine reported an error in the stream: {message or '(empty)'}")
