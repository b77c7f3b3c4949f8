"""The user's terminal: its size, and raw mode that is always undone.

dockerpty's ``size`` and ``Terminal`` keep their interface. Raw mode is entered on the input
terminal only, restored exactly once with ``TCSADRAIN`` (``TCSAFLUSH`` would drop what the user
typed ahead), and an ``atexit`` hook restores any terminal still raw if the interpreter exits first.
"""

from __future__ import annotations

import atexit
import os
import shutil
import struct
import threading
from types import TracebackType
from typing import Any, List, Optional, Tuple, Type, Union

from . import _console, _platform
from ._streams import fileno_of

FdLike = Union[int, Any]

_owners_lock = threading.Lock()


def _fd(fd: FdLike) -> Optional[int]:
    return fd if isinstance(fd, int) else fileno_of(fd)


def size(fd: FdLike) -> Optional[Tuple[int, int]]:
    """Return ``(rows, cols)`` of the terminal on ``fd`` (an int or a file object), or None.

    Uses ``TIOCGWINSZ`` where there is termios, else the console's window size
    (``os.get_terminal_size``), else ``$LINES``/``$COLUMNS`` as dockerpty did.
    """
    num = _fd(fd)
    if num is None or not os.isatty(num):
        return None
    if _platform.have_termios() and _platform.have_fcntl():
        import fcntl
        import termios

        try:
            rows, cols = struct.unpack("hh", fcntl.ioctl(num, termios.TIOCGWINSZ, b"\0" * 8)[:4])
            if rows > 0 and cols > 0:
                return rows, cols
        except OSError:
            pass
    try:
        cols, rows = os.get_terminal_size(num)
        if rows > 0 and cols > 0:
            return rows, cols
    except OSError:
        pass
    try:
        return int(os.environ["LINES"]), int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    fallback = shutil.get_terminal_size((0, 0))
    return (fallback.lines, fallback.columns) if fallback.lines and fallback.columns else None


def _raw_attributes(attrs: List[Any]) -> List[Any]:
    """cfmakeraw's flags, as the Docker CLI (moby/term) sets them; the same on every Python."""
    import termios

    iflag, oflag, cflag, lflag, ispeed, ospeed, cc = attrs
    iflag &= ~(
        termios.IGNBRK
        | termios.BRKINT
        | termios.PARMRK
        | termios.ISTRIP
        | termios.INLCR
        | termios.IGNCR
        | termios.ICRNL
        | termios.IXON
    )
    oflag &= ~termios.OPOST
    lflag &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
    cflag &= ~(termios.CSIZE | termios.PARENB)
    cflag |= termios.CS8
    cc = list(cc)
    cc[termios.VMIN] = 1
    cc[termios.VTIME] = 0
    return [iflag, oflag, cflag, lflag, ispeed, ospeed, cc]


class _Owner:
    """The caller's terminal while any session has it raw: its attributes as they were before
    the first one, and how many sessions still use it."""

    __slots__ = ("fd", "attrs", "console", "users")

    def __init__(
        self, fd: int, attrs: Optional[List[Any]], console: Optional[Tuple[Any, ...]]
    ) -> None:
        self.fd = fd
        self.attrs = attrs
        self.console = console
        self.users = 1


# One owner per terminal device for the whole process: sessions that overlap on one terminal, in
# any order, share the attributes saved by the first, and only the last one restores them.
_owners: "dict[Tuple[int, ...], _Owner]" = {}


def _device(num: int) -> Tuple[int, ...]:
    st = os.fstat(num)
    return (st.st_dev, st.st_ino, st.st_rdev)


class Terminal:
    """Raw mode for the terminal on ``fd`` (the input side), as a context manager.

    ``raw=False``, or an ``fd`` that is not a terminal, makes it a no-op. ``stop`` may be called
    from any thread and any number of times: only the first call after a ``start`` counts. When
    several of them hold one terminal at once, the first saves its attributes and the last
    restores them, whatever the order of their ends.
    """

    def __init__(self, fd: FdLike, raw: bool = True, out_fd: Optional[FdLike] = None) -> None:
        self.fd = fd
        self.raw = raw
        self.original_attributes: Optional[List[Any]] = None
        self._out_fd = out_fd
        self._lock = threading.Lock()
        self._key: Optional[Tuple[int, ...]] = None

    def __enter__(self) -> "Terminal":
        self.start()
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()

    def israw(self) -> bool:
        """Whether raw mode was asked for (dockerpty's name)."""
        return self.raw

    def start(self) -> None:
        """Save the terminal's attributes and enter raw mode (if asked and if it is a terminal)."""
        num = _fd(self.fd)
        if not self.raw or num is None or not os.isatty(num):
            return
        with self._lock, _owners_lock:
            if self._key is not None:
                return
            key = _device(num)
            owner = _owners.get(key)
            if owner is not None:
                owner.users += 1
            else:
                owner = self._enter_raw(num)
                if owner is None:
                    return
                _owners[key] = owner
            self._key = key
            self.original_attributes = owner.attrs

    def _enter_raw(self, num: int) -> Optional[_Owner]:
        if _platform.have_termios():
            import termios

            attrs = termios.tcgetattr(num)
            termios.tcsetattr(num, termios.TCSADRAIN, _raw_attributes(attrs))
            return _Owner(num, attrs, None)
        out = _fd(self._out_fd) if self._out_fd is not None else None
        console = _console.make_raw(num, out)
        return _Owner(num, None, console) if console is not None else None

    def stop(self) -> None:
        """Give the terminal back: restore it if no other session still has it raw."""
        with self._lock, _owners_lock:
            key, self._key = self._key, None
            if key is None:
                return
            owner = _owners[key]
            owner.users -= 1
            if owner.users:
                return
            del _owners[key]
        num = _fd(self.fd)
        _restore(owner.fd if num is None else num, owner)

    def __repr__(self) -> str:
        return f"Terminal({self.fd!r}, raw={self.raw!r})"


def _restore(num: Optional[int], owner: _Owner) -> None:
    if owner.attrs is not None and num is not None:
        import termios

        try:
            termios.tcsetattr(num, termios.TCSADRAIN, owner.attrs)
        except (OSError, termios.error, ValueError):
            pass  # the terminal is gone (hung up, closed): nothing left to restore
    if owner.console is not None:
        _console.restore(owner.console)


@atexit.register
def _restore_all() -> None:
    """The interpreter is exiting with sessions still raw: give every terminal back."""
    with _owners_lock:
        owners = list(_owners.items())
        _owners.clear()
    for _key, owner in owners:
        _restore(owner.fd, owner)
