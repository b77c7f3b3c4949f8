"""Test doubles for programs that drive a :class:`~threadpty.Session`: no engine needed.

:class:`FakeTarget` is a :class:`~threadpty.Target` whose container is a Python function (or a
few bytes of scripted output). The session drives it as it drives a container: it connects
(a socket pair stands in for the hijacked connection), starts it, resizes it, sends it signals,
and asks its exit status at the end. So a program's own logic around a session (what it sends,
how it reads, what it does with the exit status) can be tested in milliseconds::

    from threadpty import PIPE, Session
    from threadpty.testing import FakeTarget

    def shout(process):
        for line in iter(process.readline, b""):
            process.write(line.upper())
        return 3

    with Session(FakeTarget(shout), stdin=PIPE, stdout=PIPE) as session:
        out, _ = session.communicate(b"hi\\n")
    assert (out, session.exit_code) == (b"HI\\n", 3)

Nothing in ``threadpty`` imports this module; import it from tests.
"""

from __future__ import annotations

import socket
import threading
from typing import Callable, List, Optional, Tuple, Union

from ._connection import Connection
from ._frames import _HEADER, STDERR, STDOUT
from .target import Channel

__all__ = ["FakeProcess", "FakeTarget", "Program"]


class FakeProcess:
    """What the program of a :class:`FakeTarget` sees: its ends of the session's streams.

    ``read`` and ``readline`` give the session's input (``b""`` at its end: the session's input
    ended, or the session closed). ``write`` and ``write_stderr`` send output; without a TTY each
    is one frame of its stream, as Docker sends them, and with a TTY both are the one raw stream.
    A write after the session has gone raises ``BrokenPipeError`` (or ``ConnectionResetError``),
    which ends the program.
    """

    def __init__(self, target: FakeTarget, sock: socket.socket) -> None:
        self.target = target
        self._sock = sock
        self._buffer = b""

    @property
    def tty(self) -> bool:
        """Whether the target has a TTY."""
        return self.target.tty

    @property
    def size(self) -> Optional[Tuple[int, int]]:
        """The last size the session set, ``(height, width)``; None before any."""
        sizes = self.target.sizes
        return sizes[-1] if sizes else None

    def read(self, n: int = 65536) -> bytes:
        """Up to ``n`` bytes of input as they come; ``b""`` at the end of the input."""
        if self._buffer:
            out, self._buffer = self._buffer[:n], self._buffer[n:]
            return out
        try:
            return self._sock.recv(n)
        except OSError:
            return b""

    def readline(self) -> bytes:
        """One line of input with its ``\\n``; what is left at the end; ``b""`` after it."""
        while b"\n" not in self._buffer:
            more = self.read()
            if not more:
                out, self._buffer = self._buffer, b""
                return out
            self._buffer += more
        out, _, self._buffer = self._buffer.partition(b"\n")
        return out + b"\n"

    def write(self, data: bytes) -> None:
        """Send ``data`` on stdout."""
        self._send(STDOUT, data)

    def write_stderr(self, data: bytes) -> None:
        """Send ``data`` on stderr (on the one raw stream with a TTY)."""
        self._send(STDERR, data)

    def _send(self, stream: int, data: bytes) -> None:
        if not data:
            return  # an empty frame would say nothing, and a TTY has no frames at all
        self._sock.sendall(bytes(data) if self.tty else _HEADER.pack(stream, len(data)) + data)


#: A :class:`FakeTarget`'s container: a function given the :class:`FakeProcess`, returning the
#: exit status (None is 0).
Program = Callable[[FakeProcess], Optional[int]]


class FakeTarget:
    """A :class:`~threadpty.Target` that runs ``program`` in place of a container.

    ``program`` is a function given a :class:`FakeProcess`, run in a thread of its own
    (``threadpty-fake-<name>``) from the session's ``start``; what it returns is the exit status
    (None is 0), and when it returns, the output ends. An exception it raises makes the status 1
    and is kept in ``error``. ``program`` may instead be bytes: that output, then status 0.

    ``tty`` and ``stdin_open`` say what a container's config would. The target records what the
    session asked of it: ``sizes`` (each resize, in order), ``signals`` (each ``kill``),
    ``stdin`` and ``detach_keys`` (from ``connect``). A signal does nothing else: a program that
    should react reads ``signals``.
    """

    half_close_at_eof = True  # the socket pair passes the end of the input on, as a pipe does
    redraw = False

    def __init__(
        self,
        program: Union[Program, bytes] = b"",
        *,
        tty: bool = False,
        stdin_open: bool = True,
        name: str = "fake",
    ) -> None:
        self.program = program
        self.tty = tty
        self.stdin_open = stdin_open
        self.name = name
        self.sizes: List[Tuple[int, int]] = []
        self.signals: List[int] = []
        self.stdin: Optional[bool] = None
        self.detach_keys: Optional[str] = None
        self.error: Optional[BaseException] = None
        self._theirs: Optional[socket.socket] = None
        self._thread: Optional[threading.Thread] = None
        self._code: Optional[int] = None

    def connect(self, stdin: bool, detach_keys: Optional[str] = None) -> Channel:
        """A socket pair: the session's end, and the program's (kept for ``begin``)."""
        if self._theirs is not None:
            raise RuntimeError("a FakeTarget serves one session")
        self.stdin, self.detach_keys = stdin, detach_keys
        ours, self._theirs = socket.socketpair()
        return Connection(ours)

    def begin(self) -> None:
        """Start the program in its thread."""
        if self._theirs is None:
            raise RuntimeError("begin() before connect()")
        self._thread = threading.Thread(
            target=self._run, args=(self._theirs,), name=f"threadpty-fake-{self.name}"
        )
        self._thread.start()

    def _run(self, sock: socket.socket) -> None:
        code: Optional[int] = 0
        try:
            if isinstance(self.program, bytes):
                FakeProcess(self, sock).write(self.program)
            else:
                code = self.program(FakeProcess(self, sock))
        except (BrokenPipeError, ConnectionResetError):
            code = 0  # the session went first: nobody is left to tell
        except Exception as exc:  # noqa: BLE001 - the program's error is the status, kept
            self.error, code = exc, 1
        self._code = 0 if code is None else code
        sock.close()  # the end of the output

    def resize(self, height: int, width: int) -> None:
        """Record the size; the program reads it as ``process.size``."""
        self.sizes.append((height, width))

    def exit_code(self) -> Optional[int]:
        """The program's exit status, once it has returned (the output has ended by then)."""
        if self._thread is not None:
            self._thread.join()
        return self._code

    def is_gone(self) -> bool:
        """Whether the program has returned."""
        return self._thread is not None and not self._thread.is_alive()

    def kill(self, signum: int) -> None:
        """Record the signal in ``signals``."""
        self.signals.append(signum)
