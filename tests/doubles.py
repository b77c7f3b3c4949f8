"""Test doubles for what stands on the engine's side: framed bytes, a slow reader, a target with no
engine behind it, and docker-py's Windows named pipe played over a socketpair.

Shared here so that a double stays put when a test file is renamed or split; each is named after
what it stands in for. A test that plays the engine holds the other end of a
``socket.socketpair()`` and passes ``sockets=Connection(ours)`` to the session.
"""

from __future__ import annotations

import io
import socket
import struct
from typing import Any, Optional

__all__ = [
    "ClosedPipe",
    "EndedPipe",
    "FakeNpipeFileIO",
    "FakeNpipeSocket",
    "FakePywintypesError",
    "FakeResponse",
    "FakeTarget",
    "Trickle",
    "frame",
]


def frame(stream: int, payload: bytes) -> bytes:
    """One frame of Docker's multiplexed stream (8-byte header: stream id, length)."""
    return struct.pack(">BxxxL", stream, len(payload)) + payload


class Trickle(io.RawIOBase):
    """A reader that hands out at most `step` bytes per read, like a socket under load."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._step = data, step

    def readable(self) -> bool:
        return True

    def read1(self, n: int = -1) -> bytes:
        n = min(n if n >= 0 else self._step, self._step)
        out, self._data = self._data[:n], self._data[n:]
        return out


class FakeTarget:
    """A third kind of target: no engine behind it, the Target protocol and nothing else.

    The test passes the connection (``sockets=``) and plays the engine on its other end; the
    process is always gone and its exit status 0.
    """

    name = "fake"

    def __init__(self, tty: bool = False, stdin_open: bool = False) -> None:
        self.tty = tty
        self.stdin_open = stdin_open
        self.half_close_at_eof = False
        self.redraw = False

    def connect(self, stdin: bool, detach_keys: Optional[str]) -> Any:
        raise AssertionError("the test passes the connection")

    def begin(self) -> None:
        pass

    def resize(self, height: int, width: int) -> None:
        pass

    def is_gone(self) -> bool:
        return True

    def exit_code(self) -> Optional[int]:
        return 0

    def kill(self, signum: int) -> None:
        pass


# The SDK's side of a hijacked connection. ------------------------------------------------------


class FakeResponse:
    """What the SDK's HTTP response looks like to the connection: ``raw._fp.fp`` is the file
    the headers were read through."""

    def __init__(self, fp: Any) -> None:
        self.raw = type("Raw", (), {})()
        self.raw._fp = type("Fp", (), {})()
        self.raw._fp.fp = fp

    def close(self) -> None:
        self.raw._fp.fp.close()


class FakeNpipeSocket:
    """What docker-py's NpipeSocket offers (recv_into, sendall, shutdown closes the handle),
    with the engine's end of a socketpair as the pipe."""

    def __init__(self, end: socket.socket) -> None:
        self.end = end

    def recv_into(self, buf: Any, nbytes: int = 0) -> int:
        return self.end.recv_into(buf)

    def sendall(self, data: bytes) -> None:
        self.end.sendall(data)

    def shutdown(self, how: int) -> None:
        self.end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.end.close()


class FakeNpipeFileIO(io.RawIOBase):
    """docker-py's NpipeFileIOBase: the raw file under the reader, its ``sock`` the pipe."""

    def __init__(self, sock: FakeNpipeSocket) -> None:
        self.sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        return self.sock.recv_into(buf)


class FakePywintypesError(Exception):
    """pywintypes.error: not an OSError; ``args`` and ``winerror`` carry the Windows error."""

    def __init__(self, winerror: int, funcname: str, strerror: str) -> None:
        super().__init__(winerror, funcname, strerror)
        self.winerror = winerror


class EndedPipe(FakeNpipeSocket):
    """A pipe whose engine end has closed, as NpipeSocket reports it."""

    def recv_into(self, buf: Any, nbytes: int = 0) -> int:
        raise FakePywintypesError(109, "ReadFile", "The pipe has been ended.")

    def sendall(self, data: bytes) -> None:
        raise FakePywintypesError(232, "WriteFile", "The pipe is being closed.")


class ClosedPipe(FakeNpipeSocket):
    """A pipe after shutdown(): NpipeSocket's check_closed raises RuntimeError."""

    def recv_into(self, buf: Any, nbytes: int = 0) -> int:
        raise RuntimeError("Can not reuse socket after connection was closed.")
