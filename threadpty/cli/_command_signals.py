"""What the ``threadpty`` command does with the signals it receives while a session runs.

As the Docker CLI does:

- With the signal proxy (``run``; ``attach`` to a container without a TTY), SIGINT, SIGTERM,
  SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 go to the container and the command stays attached.
- Without it (``exec``, ``--no-sig-proxy``), SIGINT and SIGTERM end the session quietly (the
  container or exec goes on; status 0), and SIGHUP ends it and then the command, by SIGHUP.
- The third SIGINT/SIGTERM forces the exit (status 1) even if the session does not end.
- SIGTSTP (``kill -TSTP``; Ctrl-Z is a plain byte while raw) puts the terminal back as the user had
  it before stopping, and raw again once continued, so the session works after ``fg``.

The terminal is the input side (stdin): that is the one raw mode is on, whatever stdout is. It is
put back on every way out: the session restores it when it ends, and a forced exit, which ends the
process at once, restores what was saved before the session started.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType, TracebackType
from typing import Any, Callable, List, Optional, Type

from .._signals import FORWARDED, dispatcher

FORCE_EXIT_AFTER = 3
FORCE_EXIT_STATUS = 1
_TERMINATING = (signal.SIGINT, signal.SIGTERM)
_ENDING = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


class Interrupted(BaseException):
    """Raised in the main thread to end the session on a signal that is not forwarded.

    A ``BaseException``, like ``KeyboardInterrupt``: ``Session.join`` closes the session (and
    restores the terminal) on it and raises it again.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _termios() -> Any:
    try:
        import termios
    except ImportError:  # Windows: no job control, and the console is the library's business
        return None
    return termios


class CommandSignals:
    """A context manager for the life of one session; only from the main thread."""

    def __init__(self, forward: Optional[Callable[[int], None]], stdin_fd: Optional[int]) -> None:
        self._forward = forward
        self._count = 0
        self._interrupted = False
        self._fd = stdin_fd
        self._saved: Optional[List[Any]] = None
        self._previous_tstp: Any = None
        self._tstp_installed = False

    def __enter__(self) -> "CommandSignals":
        termios = _termios()
        if termios is not None and self._fd is not None and os.isatty(self._fd):
            # The terminal as the user had it: what a forced exit and a stop put back.
            self._saved = termios.tcgetattr(self._fd)
        dispatcher.subscribe(self._on_signal, FORWARDED if self._forward else _ENDING)
        if self._saved is not None and hasattr(signal, "SIGTSTP"):
            self._previous_tstp = signal.signal(signal.SIGTSTP, self._on_tstp)
            self._tstp_installed = True
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        dispatcher.unsubscribe(self._on_signal)
        if self._tstp_installed:
            signal.signal(signal.SIGTSTP, self._previous_tstp)
            self._tstp_installed = False

    def _on_signal(self, signum: int) -> None:
        if signum in _TERMINATING:
            self._count += 1
            if self._count >= FORCE_EXIT_AFTER:
                self._force_exit()
        if self._forward is not None:
            self._forward(signum)
            return
        if not self._interrupted:
            self._interrupted = True
            raise Interrupted(signum)
        # Already ending: later signals only count towards the forced exit.

    def _restore(self, when: str) -> None:
        termios = _termios()
        if termios is None or self._saved is None or self._fd is None:
            return
        try:
            termios.tcsetattr(self._fd, getattr(termios, when), self._saved)
        except (OSError, termios.error):
            pass  # the terminal hung up: nothing to put back

    def _force_exit(self) -> None:
        # At once, as the user asked three times: no waiting for output to drain either.
        self._restore("TCSANOW")
        message = f"\ngot {self._count} SIGTERM/SIGINTs, forcefully exiting\n".encode()
        try:
            if sys.stderr is not None:
                sys.stderr.flush()
            os.write(2, message)
        except (OSError, ValueError):
            pass
        os._exit(FORCE_EXIT_STATUS)

    def _on_tstp(self, signum: int, frame: Optional[FrameType]) -> None:
        termios = _termios()
        assert termios is not None and self._fd is not None
        try:
            current = termios.tcgetattr(self._fd)
        except (OSError, termios.error):
            current = None
        self._restore("TCSADRAIN")
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        try:
            os.kill(os.getpid(), signal.SIGTSTP)  # stops here until SIGCONT (`fg`, `bg`)
        finally:
            signal.signal(signal.SIGTSTP, self._on_tstp)
        if current is not None:
            try:
                termios.tcsetattr(self._fd, termios.TCSADRAIN, current)
            except (OSError, termios.error):
                pass


def die_of(signum: int) -> None:
    """End this process by ``signum``'s default action, as if it had never been handled."""
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
